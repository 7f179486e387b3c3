"""The schema-drift guard: compare a run's source columns with the last successful run's.

Each successful run records the exported schema in the export's row of
``log_resource_export_watermark`` (column ``exported_schema``: a compact JSON list of
``[name, spark type simpleString]``, see :func:`describe`). The next run compares the columns it
is about to export (``read.df.schema``, no Spark job) with it, BEFORE anything is written, and
follows the export's ``on_schema_change``:

* ``fail`` (the default for csv with a header and for an export with ``source_columns``): the run
  ends ``error``, nothing is staged or published, the watermark does not move;
* ``warn`` (the default otherwise): the run exports and ends ``warning``, the message names the
  added, dropped and retyped columns (old -> new type);
* ``allow``: the run exports as usual and records the new schema.

A retyped ``incremental_column`` always fails, whatever the policy: the stored watermark was
written for the old type. The message says how to reset it.

Everything here is pure Python (no JVM): :func:`describe` only reads a ``StructType``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import formats
from .config_rules import SCHEMA_POLICIES
from .errors import SchemaDriftError
from .state_model import WATERMARK_TABLE

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

    from .config import ExportConfig

POLICIES = SCHEMA_POLICIES
Column = tuple[str, str]  # (name, Spark simpleString type)


def columns(schema: StructType) -> list[Column]:
    """``(name, simpleString type)`` of each top-level field of ``schema``, in order."""
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


def describe(schema: StructType) -> str:
    """The compact JSON text recorded for ``schema``: ``[["id","bigint"],["name","string"]]``."""
    return dumps(columns(schema))


def dumps(columns: list[Column]) -> str:
    """Columns as the compact JSON text stored in ``exported_schema``."""
    return json.dumps([[name, kind] for name, kind in columns], separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> list[Column] | None:
    """The columns of a stored ``exported_schema`` (None: nothing stored, or text fabgen did not write)."""
    if not text:
        return None
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, list) or not all(
        isinstance(c, list) and len(c) == 2 and all(isinstance(x, str) for x in c) for c in raw
    ):
        return None
    return [(name, kind) for name, kind in raw]


@dataclass(frozen=True)
class Drift:
    """How the columns changed: added and dropped ``(name, type)``, retyped ``(name, old, new)``."""

    added: tuple[Column, ...] = ()
    dropped: tuple[Column, ...] = ()
    retyped: tuple[tuple[str, str, str], ...] = ()
    reordered: bool = False  # same columns, another order

    def __bool__(self) -> bool:
        return bool(self.added or self.dropped or self.retyped or self.reordered)

    def describe(self) -> str:
        """One line: ``added x (int); dropped y (string); retyped z (int -> string)``."""
        parts = []
        if self.added:
            parts.append("added " + ", ".join(f"{n} ({t})" for n, t in self.added))
        if self.dropped:
            parts.append("dropped " + ", ".join(f"{n} ({t})" for n, t in self.dropped))
        if self.retyped:
            parts.append("retyped " + ", ".join(f"{n} ({o} -> {t})" for n, o, t in self.retyped))
        if self.reordered:
            parts.append("columns reordered")
        return "; ".join(parts)


def compare(old: list[Column], new: list[Column]) -> Drift:
    """The drift from ``old`` to ``new``; names match exactly (a change of case is a drop and an add)."""
    before, after = dict(old), dict(new)
    added = tuple((n, t) for n, t in new if n not in before)
    dropped = tuple((n, t) for n, t in old if n not in after)
    retyped = tuple((n, before[n], t) for n, t in new if n in before and before[n] != t)
    common_old = [n for n, _t in old if n in after]
    common_new = [n for n, _t in new if n in before]
    reordered = not (added or dropped) and common_old != common_new
    return Drift(added, dropped, retyped, reordered)


def default_policy(config: ExportConfig) -> str:
    """``fail`` for csv with a header line or a fixed column list (``source_columns``), else ``warn``."""
    if config.source_columns:
        return "fail"
    if config.file_format == "csv":
        fmt = formats.get("csv", config.key)
        if fmt.header(fmt.options(config.file_format_options, config.key)):
            return "fail"
    return "warn"


def policy(config: ExportConfig) -> str:
    """The export's ``on_schema_change``, with the default applied."""
    return config.on_schema_change or default_policy(config)


def _type_of(columns: list[Column], name: str) -> str | None:
    wanted = name.lower()
    return next((t for n, t in columns if n.lower() == wanted), None)


def reset_hint(config: ExportConfig) -> str:
    """How to start an incremental export again from ``incremental_initial_watermark``."""
    return (
        f"delete this export's row from {WATERMARK_TABLE} (export_group_name = "
        f"{config.export_group_name!r} AND export_name = {config.export_name!r}) to start again from "
        "incremental_initial_watermark, or give the column its old type back"
    )


def check(
    config: ExportConfig,
    stored: str | None,
    current: list[Column],
    watermark_type: str | None = None,
) -> str | None:
    """Apply the guard to a run about to export ``current``; ``stored`` is the recorded schema text.

    Returns the warning to log (``warn``), or None (no drift, ``allow``, or first run: nothing
    recorded yet). Raises :class:`SchemaDriftError` naming the export for a refused drift.
    ``watermark_type`` is the stored watermark's column type: it catches a retyped incremental
    column even when no schema was recorded yet (tables of an earlier fabgen).
    """
    column = config.incremental_column if config.extract_type == "incremental" else None
    old = loads(stored)
    if column:
        new_type = _type_of(current, column)
        old_type = _type_of(old, column) if old is not None else watermark_type
        if old_type and new_type and old_type != new_type:
            raise SchemaDriftError(
                f"incremental_column {column!r} changed type {old_type} -> {new_type} since the last "
                f"successful run: the stored watermark was written for {old_type} and would now compare "
                f"wrongly (on_schema_change does not apply to the incremental column); {reset_hint(config)}",
                config.key,
            )
    if old is None:
        return None
    drift = compare(old, current)
    if not drift:
        return None
    chosen = policy(config)
    text = f"schema changed since the last successful run: {drift.describe()}"
    if chosen == "fail":
        default = "" if config.on_schema_change else " (the default for this export)"
        raise SchemaDriftError(
            f"{text}; on_schema_change is fail{default}: nothing was exported. Set on_schema_change "
            "to warn or allow to export the new columns (the next successful run records them)",
            config.key,
        )
    if chosen == "warn":
        return f"{text} (on_schema_change: warn)"
    return None
