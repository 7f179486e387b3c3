"""A stand-in for the Fabric Spark connector for Warehouse (``com.microsoft.spark.fabric``), tests only.

Microsoft documents (learn.microsoft.com/fabric/data-engineering/spark-data-warehouse-connector):
``import com.microsoft.spark.fabric`` adds ``DataFrameReader.synapsesql``; T-SQL pass-through is
``spark.read.option(Constants.DatabaseName, "<warehouse>").synapsesql("<T-SQL>")``, another workspace
``.option(Constants.WorkspaceId, "<workspace id>")``. Here the query runs on the local PostgreSQL
warehouse (database ``<warehouse>``, ``FABGEN_PG_*``) through Spark JDBC, after the two T-SQL
spellings fabgen emits are rewritten for PostgreSQL: ``[identifier]`` and ``datetime2(n)``. Every call
is recorded in ``calls`` (database, workspace id, query) for the tests.
"""

from __future__ import annotations

import os
import re

from pyspark.sql import DataFrameReader

from .Constants import Constants

calls: list[dict[str, str | None]] = []
_original_option = DataFrameReader.option


def _option(self: DataFrameReader, key: str, value: object) -> DataFrameReader:
    if key in (Constants.DatabaseName, Constants.WorkspaceId):
        options = dict(getattr(self, "_fabric_options", {}))
        options[key] = str(value)
        self._fabric_options = options  # type: ignore[attr-defined]
        return self
    return _original_option(self, key, value)


def to_postgres(tsql: str) -> str:
    """``[x]`` -> ``"x"`` and ``datetime2(n)`` -> ``timestamp(n)``, outside string literals."""
    out, i = [], 0
    while i < len(tsql):
        ch = tsql[i]
        if ch == "'":
            end = i + 1
            while end < len(tsql):
                if tsql[end] == "'" and tsql[end + 1 : end + 2] == "'":
                    end += 2
                elif tsql[end] == "'":
                    break
                else:
                    end += 1
            out.append(tsql[i : end + 1])
            i = end + 1
        elif ch == "[":
            end = i + 1
            while not (tsql[end] == "]" and tsql[end + 1 : end + 2] != "]"):
                end += 2 if tsql[end] == "]" else 1
            out.append('"' + tsql[i + 1 : end].replace("]]", "]").replace('"', '""') + '"')
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return re.sub(r"\bdatetime2\((\d)\)", r"timestamp(\1)", "".join(out), flags=re.IGNORECASE)


def synapsesql(self: DataFrameReader, query: str):  # type: ignore[no-untyped-def]
    options = getattr(self, "_fabric_options", {})
    database = options.get(Constants.DatabaseName)
    if not database:
        raise ValueError("synapsesql stand-in: T-SQL pass-through needs option(Constants.DatabaseName, ...)")
    calls.append({"database": database, "workspace_id": options.get(Constants.WorkspaceId), "query": query})
    host, port = os.environ.get("FABGEN_PG_HOST", "127.0.0.1"), os.environ["FABGEN_PG_PORT"]
    url = f"jdbc:postgresql://{host}:{port}/{database}"
    return (
        self.format("jdbc")
        .option("url", url)
        .option("driver", "org.postgresql.Driver")
        .option("user", os.environ.get("FABGEN_PG_USER", "fabgen"))
        .option("password", os.environ.get("FABGEN_PG_PASSWORD", "fabgen"))
        .option("query", to_postgres(query))
        .load()
    )


DataFrameReader.option = _option  # type: ignore[method-assign]
DataFrameReader.synapsesql = synapsesql  # type: ignore[attr-defined]
