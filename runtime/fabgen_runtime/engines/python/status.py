"""The read-only views of :mod:`fabgen_runtime.status` over delta-rs: ``status``/``history`` without a JVM.

:class:`DeltaRsStateReader` is the :class:`~fabgen_runtime.status.StateReader` of
:class:`.tables.DeltaRsTables` (``DeltaRsTables.reader()``): it reads the log and watermark tables with
:meth:`.tables.DeltaRsTables.read` (the whole filtered rows; the log of one group is small) and
orders, ranks and limits them with the status module's own :func:`~fabgen_runtime.status.select_runs`,
so its rows are the ones Spark's reader returns (same columns, timestamps naive UTC).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow.dataset as ds

from ...state_model import LOG_TABLE, WATERMARK_TABLE
from ...status import RUN_FIELDS, WATERMARK_FIELDS, Row, select_runs, shaped

if TYPE_CHECKING:
    from .tables import DeltaRsTables


class DeltaRsStateReader:
    """:class:`~fabgen_runtime.status.StateReader` over the delta-rs state tables (reads only)."""

    def __init__(self, tables: DeltaRsTables):
        self.tables = tables

    def has_table(self, path: str) -> bool:
        """Whether the Delta table at ``path`` exists."""
        return self.tables.exists(path)

    def runs(self, group: str, export: str | None, latest_only: bool, limit: int | None) -> list[Row]:
        """Log rows of ``group`` (one export, or all), newest first (see the protocol)."""
        condition = ds.field("export_group_name") == group
        if export is not None:
            condition = condition & (ds.field("export_name") == export)
        rows = self.tables.read(self.tables.log_path, condition, LOG_TABLE)
        return select_runs([shaped(row, RUN_FIELDS) for row in rows], latest_only, limit)

    def watermarks(self, group: str) -> list[Row]:
        """Watermark rows of ``group`` with a value: ``export_name`` and the watermark fields."""
        condition = (ds.field("export_group_name") == group) & ds.field("watermark_value").is_valid()
        rows = self.tables.read(self.tables.watermark_path, condition, WATERMARK_TABLE)
        return [shaped(row, ("export_name", *WATERMARK_FIELDS)) for row in rows]
