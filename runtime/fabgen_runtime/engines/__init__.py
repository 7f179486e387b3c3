"""The engines that run an export's data path, behind one seam the run protocol calls.

An :class:`Engine` reads the plan's source once, names its columns, writes the staged output
and gives the :class:`~fabgen_runtime.protocol.store.FileStore` the protocol publishes through.
Everything else of a run (plan, journal, publish, recovery, leases, log rows, watermarks,
execution groups, retry) is written once, in :mod:`fabgen_runtime.export`,
:mod:`fabgen_runtime.orchestrator` and :mod:`fabgen_runtime.bookkeeping`, for both:

* :class:`.spark.SparkEngine`: Spark sources and writer, Hadoop's FileSystem API, Delta on Spark;
* :class:`.python.engine.PythonEngine`: delta-rs reads, pyarrow writes, local files, delta-rs
  state tables (Fabric's Python notebooks; no JVM).

The state tables pick the engine: :class:`fabgen_runtime.export_logger.ExportLogger` (one class for
both) asks :func:`state_backend` for the engine's :class:`StateBackend`: its ``TableStore`` (Delta on
Spark, or delta-rs) and its :class:`Engine`. An adapter's ``state`` module registers its backend in
:data:`STATE_BACKENDS` when imported; :func:`state_backend` imports the one named.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..config import ExportConfig
    from ..plan import ExportPlan
    from ..platform import Platform
    from ..protocol.store import FileStore
    from ..protocol.tables import TableStore
    from ..schema_drift import Column
    from ..staged import StagedOutput

ENGINES = ("spark", "python")


class SourceRows(Protocol):
    """One read of a source: lazy or streamed rows, plus what the log records about the read."""

    @property
    def version(self) -> str | None:
        """What was read, e.g. ``dbo.orders@12`` (a lakehouse table at its Delta version)."""
        ...

    def close(self) -> None:
        """Release what the read holds (temporary views); safe to call twice."""
        ...


class Engine(Protocol):
    """What one export run needs from an engine (see the module docstring)."""

    @property
    def name(self) -> str:
        """``spark`` or ``python``."""
        ...

    @property
    def fs(self) -> FileStore:
        """Where staging, journals and published files are read and written."""
        ...

    def read(self, plan: ExportPlan, platform: Platform) -> SourceRows:
        """Read the plan's source once (lakehouse tables pinned to a version)."""
        ...

    def columns(self, rows: SourceRows) -> list[Column]:
        """``(name, Spark simpleString type)`` of each exported column, without reading data."""
        ...

    def write(self, rows: SourceRows, plan: ExportPlan, platform: Platform) -> StagedOutput:
        """Write the rows into the plan's staging folder (rows and max watermark counted in the pass)."""
        ...

    def task(self, config: ExportConfig, slot: int) -> AbstractContextManager[None]:
        """The scope one export runs in on a worker thread (Spark: its FAIR pool and job name)."""
        ...

    def period(self, config: ExportConfig, query: str, platform: Platform) -> tuple[datetime, datetime]:
        """Run the rendered ``period_date_query`` on ``config``'s source: ``(start_date, end_date)``."""
        ...


class StateBackend(Protocol):
    """What an engine adapter gives :class:`~fabgen_runtime.export_logger.ExportLogger`."""

    @property
    def spark(self) -> Any:
        """The SparkSession the engine runs on (None: the Python engine has none)."""
        ...

    def tables(self, log_path: str, watermark_path: str, auto_create_tables: bool) -> TableStore:
        """The state tables at these locations, read and written by this engine."""
        ...

    def engine(self, spark: Any = None) -> Engine:
        """The engine that runs the exports (Spark: on ``spark``, default the backend's session)."""
        ...


#: engine name -> ``factory(platform, **options)`` of its :class:`StateBackend` (filled by the adapters)
STATE_BACKENDS: dict[str, Callable[..., StateBackend]] = {}


def state_backend(name: str, platform: Platform, **options: Any) -> StateBackend:
    """The :class:`StateBackend` of engine ``name`` (``spark`` or ``python``) on ``platform``."""
    if name not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {name!r}")
    if name not in STATE_BACKENDS:
        importlib.import_module(f"{__name__}.{name}.state")  # the adapter's backend registers itself
    return STATE_BACKENDS[name](platform, **options)


def struct_string(columns: list[Column]) -> str:
    """Spark's ``StructType.simpleString()`` of ``columns``: ``struct<id:bigint,name:string>``."""
    return "struct<" + ",".join(f"{name}:{kind}" for name, kind in columns) + ">"


def column_type(columns: list[Column], column: str | None) -> str | None:
    """The type of ``column`` (case-insensitive), None when absent or not asked for."""
    if not column:
        return None
    return next((kind for name, kind in columns if name.lower() == column.lower()), None)
