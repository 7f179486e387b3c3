"""The Python engine: :class:`fabgen_runtime.engines.Engine` over delta-rs, pyarrow and local files.

Reads stream a lakehouse table through delta-rs (:mod:`.read`), or a lakehouse query's result
from DuckDB over such tables (:mod:`.query`), writes go batch by batch into
staging (:mod:`.write`), the protocol publishes through a
:class:`~fabgen_runtime.protocol.store.FileStore` (local Fabric:
:class:`~fabgen_runtime.protocol.store.LocalFileStore`; Fabric: :class:`.onelake.NotebookFileStore`)
and the leases are :class:`~fabgen_runtime.protocol.leasing.Leases` over the delta-rs state tables
(:mod:`.tables`).
Column types are named as Spark names them, so the exported schema a run records (schema drift)
and the watermark type are the same whichever engine ran the export.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ...inputs import ControlQueries
from ...protocol.store import FileStore, LocalFileStore
from . import read as reading
from . import warehouse
from . import write as writing
from .onelake import StorageOptions

if TYPE_CHECKING:
    from ...config import ExportConfig
    from ...plan import ExportPlan
    from ...platform import Platform
    from ...schema_drift import Column
    from ...staged import StagedOutput

_SIMPLE: dict[pa.DataType, str] = {
    pa.bool_(): "boolean",
    pa.int8(): "tinyint",
    pa.int16(): "smallint",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.float32(): "float",
    pa.float64(): "double",
    pa.string(): "string",
    pa.large_string(): "string",
    pa.string_view(): "string",
    pa.binary(): "binary",
    pa.large_binary(): "binary",
    pa.date32(): "date",
}


def spark_type(kind: pa.DataType) -> str:
    """Spark's ``simpleString`` of the Delta column an Arrow type reads from."""
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    if pa.types.is_timestamp(kind):
        return "timestamp" if kind.tz is not None else "timestamp_ntz"
    if pa.types.is_decimal(kind):
        return f"decimal({kind.precision},{kind.scale})"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return f"array<{spark_type(kind.value_type)}>"
    if pa.types.is_map(kind):
        return f"map<{spark_type(kind.key_type)},{spark_type(kind.item_type)}>"
    if pa.types.is_struct(kind):
        fields = ",".join(f"{f.name}:{spark_type(f.type)}" for f in kind)
        return f"struct<{fields}>"
    return str(kind)


@dataclass
class PythonRows:
    """The streamed rows of one read (:class:`.read.PythonRead`) behind the engine seam."""

    read: reading.PythonRead

    @property
    def version(self) -> str | None:
        return self.read.version

    def close(self) -> None:
        self.read.reader.close()


class PythonEngine:
    """Exports without Spark (one process; concurrent exports on threads)."""

    name = "python"

    def __init__(self, storage_options: StorageOptions = None, fs: FileStore | None = None):
        self.storage_options = storage_options
        self.fs: FileStore = fs or LocalFileStore()

    def read(self, plan: ExportPlan, platform: Platform) -> PythonRows:
        if plan.config.source_type == "warehouse":
            return PythonRows(warehouse.read(plan, platform))
        if plan.source.mode == "query":  # Spark SQL through sqlglot, run by DuckDB
            from . import query

            return PythonRows(query.read_query(plan, platform, self.storage_options))
        return PythonRows(reading.read(plan, platform, self.storage_options))

    def columns(self, rows: Any) -> list[Column]:
        schema: pa.Schema = rows.read.reader.schema
        return [(field.name, spark_type(field.type)) for field in schema]

    def write(self, rows: Any, plan: ExportPlan, platform: Platform) -> StagedOutput:
        return writing.write(rows.read.reader, plan, platform, self.fs)

    @contextmanager
    def task(self, config: ExportConfig, slot: int) -> Iterator[None]:
        yield

    def period(self, config: ExportConfig, query: str, platform: Platform) -> tuple[datetime, datetime]:
        """``period_date_query``: a warehouse's over ODBC; a lakehouse's (Spark SQL) in DuckDB
        over the lakehouse's tables (:func:`.query.period`)."""
        if config.source_type == "lakehouse":
            from . import query as lakehouse_query

            return lakehouse_query.period(config, query, platform, self.storage_options)
        return ControlQueries().period(config, query, platform)
