"""``fabgen local load``: put your own data into local Fabric under the names the rows use (issue #28).

A CSV (header row, types inferred), Parquet (types kept) or JSON-lines file becomes

* a lakehouse Delta table, ``--table WORKSPACE/LAKEHOUSE/schema.table``, written with delta-rs (no
  JVM) where the local engine reads it (:func:`fabgen_runtime.platform.table_uri`), or, with
  ``--env E --limit N`` instead of a file, the first N rows of that table in environment E's
  workspace (read over OneLake with delta-rs, :func:`sample_lakehouse`): the local copy keeps its
  Arrow types, partition columns and column mapping mode, or
* a warehouse table, ``--warehouse-table WAREHOUSE/schema.table``, in the local PostgreSQL (a database
  per warehouse, created when missing, as the example's seed does), its column types mapped from
  Arrow's (:data:`POSTGRES_TYPES`) and its rows copied with ``COPY``.

An existing table is refused unless ``--replace``. Names are checked and quoted, never pasted.
"""

from __future__ import annotations

import io
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabgen_runtime.errors import ConfigError, ConfigIssue, PlatformError

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet", "json")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ITEM = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .-]*$")
#: Arrow type (its id's name) -> PostgreSQL column type; decimals and timestamps are built from their unit
POSTGRES_TYPES = {
    "bool": "boolean",
    "int8": "smallint",
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "uint8": "smallint",
    "uint16": "integer",
    "uint32": "bigint",
    "float": "real",
    "double": "double precision",
    "string": "text",
    "large_string": "text",
    "binary": "bytea",
    "large_binary": "bytea",
}


@dataclass(frozen=True)
class Target:
    """Where a load goes: a lakehouse table (``lakehouse`` set) or a warehouse table."""

    workspace: str | None
    datastore: str
    schema: str
    table: str
    lakehouse: bool

    @property
    def label(self) -> str:
        prefix = f"{self.workspace}/" if self.workspace else ""
        return f"{prefix}{self.datastore}/{self.schema}.{self.table}"


def parse_target(text: str, lakehouse: bool) -> Target:
    """``WS/LH/schema.table`` (lakehouse) or ``WH/schema.table`` (warehouse); a ConfigError otherwise."""
    field = "--table" if lakehouse else "--warehouse-table"
    parts = text.split("/")
    want = 3 if lakehouse else 2
    shape = "WORKSPACE/LAKEHOUSE/schema.table" if lakehouse else "WAREHOUSE/schema.table"
    if len(parts) != want or "." not in parts[-1]:
        raise ConfigError(ConfigIssue("local load", field, f"{text!r} is not {shape}"))
    schema, _, table = parts[-1].partition(".")
    items = parts[:-1]
    for item in items:
        if not ITEM.match(item):
            raise ConfigError(ConfigIssue("local load", field, f"{item!r} is not a workspace or item name"))
    for name in (schema, table):
        if not NAME.match(name):
            raise ConfigError(ConfigIssue("local load", field, f"{name!r} is not a plain identifier"))
    workspace = items[0] if lakehouse else None
    return Target(workspace, items[-1], schema, table, lakehouse)


def read_file(path: Path, file_format: str | None = None) -> Any:
    """The file as a pyarrow Table (format from ``file_format`` or the suffix)."""
    kind = (file_format or path.suffix.lstrip(".")).lower()
    kind = {"jsonl": "json", "ndjson": "json", "pq": "parquet"}.get(kind, kind)
    if kind not in FORMATS:
        raise ConfigError(
            ConfigIssue(
                "local load", "--format", f"cannot tell the format of {path.name}: give csv, parquet or json"
            )
        )
    if not path.is_file():
        raise ConfigError(ConfigIssue("local load", "FILE", f"{path} is not a file"))
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    if kind == "json":
        import pyarrow.json as pj

        return pj.read_json(path)
    import pyarrow.csv as pc

    return pc.read_csv(path)


def load_lakehouse(
    uri: str,
    data: Any,
    replace: bool,
    partition_by: list[str] | None = None,
    column_mapping_mode: str = "none",
) -> None:
    """Write ``data`` as the Delta table at ``uri`` (delta-rs; ``replace`` overwrites data and schema).

    ``partition_by`` (a list, even empty) or a ``column_mapping_mode`` other than ``none`` give the
    table's shape (a sample of a workspace's table): an existing table is then removed first, since
    partitioning and column mapping are set when a table is created.
    """
    import shutil

    from deltalake import DeltaTable, write_deltalake

    if DeltaTable.is_deltatable(uri):
        if not replace:
            raise ConfigError(
                ConfigIssue("local load", "--table", f"a table is already at {uri}: add --replace")
            )
        if partition_by is not None or column_mapping_mode != "none":
            shutil.rmtree(uri)  # a new shape: partitioning and column mapping are fixed at creation
    Path(uri).mkdir(parents=True, exist_ok=True)
    mapped = column_mapping_mode != "none"
    configuration = {"delta.columnMapping.mode": column_mapping_mode} if mapped else None
    write_deltalake(
        uri,
        data,
        mode="overwrite",
        schema_mode="overwrite" if replace and DeltaTable.is_deltatable(uri) else None,
        partition_by=partition_by or None,
        configuration=configuration,
    )


def sample_lakehouse(project: Any, env: str, target: Target, limit: int) -> Any:
    """The first ``limit`` rows of ``target`` in environment ``env``'s workspace (over OneLake with
    delta-rs): a :class:`fabgen_runtime.engines.python.sample.Sample`."""
    from fabgen_runtime.engines.python.sample import sample

    from .onelake_read import workspace

    with workspace(project, env) as remote:
        uri = remote.table_uri(target.workspace or "", target.datastore, target.schema, target.table)
        log.info("reading the first %d row(s) of %s in %s: %s", limit, target.label, env, uri)
        return sample(uri, limit, remote.storage_options, f"{target.label} ({env})")


def postgres_type(arrow_type: Any) -> str:
    """The PostgreSQL column type of an Arrow type (:data:`POSTGRES_TYPES`; decimals, timestamps)."""
    import pyarrow as pa

    if pa.types.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    name = str(arrow_type)
    if name not in POSTGRES_TYPES:
        raise ConfigError(ConfigIssue("local load", "FILE", f"no PostgreSQL type for the column type {name}"))
    return POSTGRES_TYPES[name]


def connect(database: str) -> Any:
    """A psycopg2 connection to ``database`` on the local warehouse (``FABGEN_PG_*``, as the project's
    local environment sets them)."""
    import psycopg2

    host, port = os.environ["FABGEN_PG_HOST"], int(os.environ["FABGEN_PG_PORT"])
    try:
        return psycopg2.connect(
            host=host,
            port=port,
            user=os.environ["FABGEN_PG_USER"],
            password=os.environ["FABGEN_PG_PASSWORD"],
            dbname=database,
            connect_timeout=10,
        )
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PlatformError(
            f"cannot reach the local warehouse at {host}:{port} ({first}); "
            "start it with `bash scripts/warehouse.sh start`"
        ) from None


def load_warehouse(connect: Any, target: Target, data: Any, replace: bool) -> None:
    """Create ``target`` in the local PostgreSQL (its database when missing) and copy ``data`` in.

    ``connect(database)`` opens a psycopg2 connection.
    """
    import pyarrow.csv as pc
    from psycopg2 import sql

    admin = connect("postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.datastore,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.datastore)))
    admin.close()
    conn = connect(target.datastore)
    name = sql.Identifier(target.schema, target.table)
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(postgres_type(f.type))) for f in data.schema
    )
    with conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(target.schema)))
        cur.execute("SELECT to_regclass(format('%%I.%%I', %s, %s))", (target.schema, target.table))
        if cur.fetchone()[0] is not None:
            if not replace:
                raise ConfigError(
                    ConfigIssue("local load", "--warehouse-table", f"{target.label} exists: add --replace")
                )
            cur.execute(sql.SQL("DROP TABLE {}").format(name))
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(name, columns))
        buffer = io.BytesIO()
        pc.write_csv(data, buffer, pc.WriteOptions(include_header=False))
        buffer.seek(0)
        copy = sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv)").format(name)
        cur.copy_expert(copy.as_string(cur), buffer)
    conn.close()
