"""What an engine's writer staged: the files waiting in staging, their rows, the max watermark.

Both engines' writers (``engines/spark/writer``, ``engines/python/write``) return a
:class:`StagedOutput`; :mod:`fabgen_runtime.publish` turns it into the run protocol's journal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plan import ExportPlan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagedFile:
    """One file ready to publish."""

    name: str  # final file name (in the export's target directory)
    uri: str  # where it waits in staging
    size: int
    rows: int  # data rows in the file (all parts, for an archive)
    sha256: str | None = None  # hex digest (computed JVM side)


@dataclass(frozen=True)
class StagedOutput:
    """What an engine's writer staged, for :mod:`fabgen_runtime.publish` and the log tables."""

    export: str
    staging_uri: str
    files: tuple[StagedFile, ...]
    rows: int
    max_watermark: str | None  # max(incremental_column) as text (see render_watermark), None without rows
    part_rows: tuple[int, ...]  # rows in each data file or archive member, in part order
    # Incremental exports: rows whose incremental_column is NULL, counted in the same pass (dropped
    # when the plan filters by a watermark, written otherwise; see null_warning); 0 otherwise.
    null_watermark_rows: int = 0

    @property
    def files_count(self) -> int:
        """Number of files to publish (the trigger file not included)."""
        return len(self.files)

    @property
    def total_bytes(self) -> int:
        """Bytes of every file to publish."""
        return sum(f.size for f in self.files)

    def log_staged(self) -> None:
        """Log what was staged (both engines' writers call this once)."""
        log.info(
            "%s: staged %d file(s), %d rows, %d bytes",
            self.export,
            self.files_count,
            self.rows,
            self.total_bytes,
        )


def null_warning(null_rows: int, plan: ExportPlan) -> list[str]:
    """The log row's warning about NULL incremental values (empty when there are none)."""
    if not null_rows:
        return []
    column = plan.config.incremental_column
    if plan.source.drops_null_incremental:
        return [
            f"{null_rows} row(s) with a NULL incremental_column {column!r} not exported (NULL is never "
            f"> the watermark {plan.watermark!r}); give them a value, or export them with a full or "
            "period export"
        ]
    if plan.source.mode == "table":
        return [
            f"{null_rows} exported row(s) have a NULL incremental_column {column!r}: this run without a "
            "watermark exported them, later incremental runs will not (they never move the watermark)"
        ]
    return [
        f"{null_rows} exported row(s) have a NULL incremental_column {column!r} (source_query decides "
        "which rows reach the file; NULLs never move the watermark)"
    ]


def render_watermark(value: Any, kind: str = "value") -> str | None:
    """The watermark as lossless text: ISO dates (``2025-01-31``), ISO timestamps in the session
    time zone without trailing fractional zeros (``2025-01-31T12:00:00.5``), plain numbers
    (``12345.67``, never an exponent), other values as ``str``. ``None`` stays ``None``.
    """
    if value is None:
        return None
    if kind == "timestamp":
        text = str(value)
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    return str(value)
