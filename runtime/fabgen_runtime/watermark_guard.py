"""A stored watermark behind what the log says was exported: found before a run, repaired, warned.

A watermark-table commit can be lost (a damaged table rolled back, an older copy restored) while the
log still holds the success row of the run that stored it. The next run would start from the older
value and export those rows again, without a word. :func:`repair_lost_watermarks` compares, for the
incremental exports a call is about to run, each stored watermark with the log's latest successful
run that recorded a new one:

* the stored value is that run's, or was stored by that run → nothing to do;
* the stored value was stored by an *earlier* successful run (its log row completed before the
  latest one's), or there is none at all → the latest run's value is stored again
  (compare-and-set from the stored one) and a warning names both values and both runs;
* the stored value was set by a run the log does not know (``ExportLogger.set_watermark`` by
  hand, to re-export on purpose) → left as it is.

One read of the log's success rows of those exports per call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from .protocol.tables import Key, Row, WatermarkWrite

if TYPE_CHECKING:
    from .config import ExportConfig

log = logging.getLogger(__name__)


class WatermarkHistory(Protocol):
    """What the guard reads of the log table (both engines' loggers)."""

    def watermark_history(self, keys: Iterable[Key]) -> list[Row]:
        """Success/warning rows of ``keys`` that recorded a ``new_watermark_value``."""
        ...


class WatermarkStore(Protocol):
    """What the guard writes (one call's :class:`~fabgen_runtime.protocol.leasing.Leases`)."""

    def store(self, writes: list[WatermarkWrite], release: bool = True) -> set[Key]: ...


def _moment(row: Row) -> datetime:
    value = row.get("completed_at") or row.get("updated_at")
    if not isinstance(value, datetime):
        return datetime.min
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def lost_watermarks(
    configs: Iterable[ExportConfig], stored: Mapping[Key, Row], history: list[Row]
) -> list[WatermarkWrite]:
    """The watermarks to store again (see the module docstring); pure."""
    wanted = {(c.export_group_name, c.export_name): c for c in configs if c.extract_type == "incremental"}
    runs: dict[Key, list[Row]] = {}
    for row in history:
        key = (row["export_group_name"], row["export_name"])
        if key in wanted:
            runs.setdefault(key, []).append(row)
    writes = []
    for key, rows in sorted(runs.items()):
        latest = max(rows, key=_moment)
        current: Mapping[str, Any] = stored.get(key) or {}
        value, stored_by = current.get("watermark_value"), current.get("updated_by_run_id")
        if latest["new_watermark_value"] == value or latest["export_run_id"] == stored_by:
            continue
        storer = next((r for r in rows if r["export_run_id"] == stored_by), None)
        if value is not None and (storer is None or _moment(storer) >= _moment(latest)):
            continue  # set by hand (a run the log does not know), or newer than the latest success
        config = wanted[key]
        writes.append(
            WatermarkWrite(
                key,
                str(latest["new_watermark_value"]),
                value,
                config.incremental_column,
                current.get("watermark_type"),
                str(latest["export_run_id"]),
                str(latest.get("master_execution_id") or ""),
            )
        )
    return writes


def repair_lost_watermarks(
    logger: WatermarkHistory, leases: WatermarkStore, configs: list[ExportConfig], stored: Mapping[Key, Row]
) -> list[str]:
    """Store again the watermarks a lost commit took back (see the module docstring); the warnings."""
    keys = [(c.export_group_name, c.export_name) for c in configs if c.extract_type == "incremental"]
    if not keys:
        return []
    writes = lost_watermarks(configs, stored, logger.watermark_history(keys))
    if not writes:
        return []
    repaired = leases.store(writes, release=False)
    warnings = []
    for write in writes:
        before = stored.get(write.key) or {}
        export, stored_by = "/".join(write.key), before.get("updated_by_run_id")
        what = (
            f"{export}: the stored watermark {write.expected!r} (stored by run {stored_by}) "
            f"is behind {write.value!r}, the new watermark of the latest successful run {write.run_id}: the "
            "watermark table lost a commit"
        )
        if write.key in repaired:
            warnings.append(f"{what}; stored {write.value!r} again, so those rows are not exported twice")
        else:
            warnings.append(f"{what}; it could not be stored again (another run moved it)")
    for warning in warnings:
        log.warning("%s", warning)
    return warnings
