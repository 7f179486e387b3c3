"""The Arrow side of the state tables' columns, for delta-rs.

:func:`arrow_type` / :func:`arrow_schema` map the column types of :mod:`fabgen_runtime.state_model`
(Spark SQL names) to Arrow, and :func:`rows_table` builds the Arrow table of rows a delta-rs append or
MERGE source takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

_SCALARS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),  # Delta's ``timestamp`` (UTC); naive would be timestamp_ntz
}


def arrow_type(kind: str) -> pa.DataType:
    """The Arrow type of a state-table column type (``state_model``'s Spark SQL names)."""
    kind = kind.strip().lower()
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind.startswith("array<") and kind.endswith(">"):
        return pa.list_(arrow_type(kind[6:-1]))
    raise ValueError(f"unsupported column type {kind!r}")


def arrow_schema(columns: Mapping[str, str]) -> pa.Schema:
    """The Arrow schema of ``{name: type}`` (every column nullable)."""
    return pa.schema([pa.field(name, arrow_type(kind), nullable=True) for name, kind in columns.items()])


def rows_table(rows: Sequence[tuple[Any, ...]], columns: Mapping[str, str]) -> pa.Table:
    """An Arrow table of ``rows`` (tuples in ``columns`` order) with the state tables' types."""
    names = list(columns)
    data = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    return pa.Table.from_pydict(data, schema=arrow_schema(columns))
