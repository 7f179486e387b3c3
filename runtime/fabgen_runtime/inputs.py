"""What one export run starts from: the stored (or initial) watermark and the period dates.

:func:`resolve_inputs` is the one place this is decided, for ``fabgen run`` (through
:class:`~fabgen_runtime.export.ExportRun`) and ``fabgen plan`` alike, so a plan shows exactly
what a run would do or refuse.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from . import sql
from .errors import StateError
from .sources.odbc import odbc_period
from .state_model import StoredWatermark

if TYPE_CHECKING:
    from .config import ExportConfig
    from .export_logger import ExportLogger
    from .plan import RunContext
    from .platform import Platform


class PeriodReader(Protocol):
    """What runs a ``period_date_query``: an engine (:meth:`fabgen_runtime.engines.Engine.period`)."""

    def period(self, config: ExportConfig, query: str, platform: Platform) -> tuple[datetime, datetime]:
        """``(start_date, end_date)`` of ``query`` run on ``config``'s source."""
        ...


class ControlQueries:
    """:class:`PeriodReader` without an engine (``fabgen plan`` of a Python group): a warehouse's
    query over ODBC; a lakehouse query needs an engine that reads the lakehouse."""

    def period(self, config: ExportConfig, query: str, platform: Platform) -> tuple[datetime, datetime]:
        if config.source_type == "warehouse":
            return odbc_period(config, query, platform)
        raise StateError("resolving a lakehouse period_date_query needs a SparkSession", config.key)


def resolve_inputs(
    engine: PeriodReader | None,
    config: ExportConfig,
    context: RunContext,
    logger: ExportLogger | None,
    platform: Platform,
    stored: StoredWatermark | bool | None = False,
    period_query: bool = True,
) -> tuple[str | None, str | None, datetime | None, datetime | None]:
    """The watermark (and its column type) and the period dates one run of ``config`` starts from.

    ``stored`` is the watermark read beforehand (None: no stored value); without it (``False``)
    it is read from ``logger``. A stored watermark of another column than ``incremental_column``
    is refused (:class:`StateError`). ``period_query=False`` leaves the period dates unresolved
    (``fabgen plan`` without running control queries).
    """
    watermark = watermark_type = None
    start = end = None
    if config.extract_type == "incremental":
        if stored is False or stored is True:
            stored = logger.get_watermark(config.export_group_name, config.export_name) if logger else None
        if stored is not None:
            _check_column(config, stored)
            watermark, watermark_type = stored.value, stored.type
        else:
            watermark = config.incremental_initial_watermark
    if config.extract_type == "period" and config.period_date_query and period_query:
        dialect = sql.default_dialect(config, platform)
        values = {"run_date": context.run_date, "process_date": context.process_date}
        query = sql.render_control_query(
            config.period_date_query, values, dialect, config.key, "period_date_query"
        )
        start, end = (engine or ControlQueries()).period(config, query, platform)
    return watermark, watermark_type, start, end


def _check_column(config: ExportConfig, stored: StoredWatermark) -> None:
    if (
        stored.column
        and config.incremental_column
        and stored.column.lower() != config.incremental_column.lower()
    ):
        raise StateError(
            f"the stored watermark {stored.value!r} is for column {stored.column!r} "
            f"but incremental_column is now {config.incremental_column!r}: delete this export's row "
            "from log_resource_export_watermark to start again from incremental_initial_watermark",
            config.key,
        )
