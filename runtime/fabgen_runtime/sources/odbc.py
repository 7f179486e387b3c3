"""Control queries over ODBC (pyodbc): the warehouse path that works under a service principal.

Control queries (``period_date_query``, catalog lookups, key bounds) return a row or two, so they
need no Spark job. Through ODBC they run as whoever holds the Entra access token:

- on Fabric, ``ODBC Driver 18 for SQL Server`` to the warehouse's SQL endpoint with the token from
  ``notebookutils.credentials.getToken(...)`` passed as ``SQL_COPT_SS_ACCESS_TOKEN`` (1256), which
  works for a pipeline running as a service principal (the Spark connector does not);
- locally, PostgreSQL's ODBC driver (``PostgreSQL Unicode``, Debian ``odbc-postgresql``) to the
  warehouse stand-in, so the same pyodbc code runs in CI.

pyodbc is imported lazily: Microsoft's release notes (microsoft/synapse-spark-runtime ``Fabric/``)
list it in Runtime 1.3 (5.0.1), Runtime 2.0 (5.3.0) and the Python notebook image (5.3.0 / 4.0.39),
each with the image component ``SQLServerODBCDriver`` 18.1.0; on a runtime without pyodbc the error
says so. Not seen in a workspace yet (docs/runtimes.md).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import PlatformError, SourceReadError

if TYPE_CHECKING:
    from ..config import ExportConfig
    from ..platform import Platform

SQL_COPT_SS_ACCESS_TOKEN = 1256  # msodbcsql.h: pass an Entra access token instead of a login
FABRIC_DRIVER = "ODBC Driver 18 for SQL Server"
LOCAL_DRIVER = "PostgreSQL Unicode"
# The audience of a token for Fabric's SQL endpoints (Azure SQL's resource id).
SQL_AUDIENCE = "https://database.windows.net/"
LOGIN_TIMEOUT_SECONDS = 30


def _value(value: Any) -> str:
    """One ODBC connection-string value; braced (``}`` doubled) when ``;``, ``{``, ``}``, ``=`` or
    edge spaces could end or change it, else as it is (some drivers read ``Port={5432}`` literally)."""
    text = str(value)
    if any(c in text for c in ";{}=") or text != text.strip():
        return "{" + text.replace("}", "}}") + "}"
    return text


def connection_string(attributes: Mapping[str, Any]) -> str:
    """``key={value};...`` with every value braced (never pasted raw)."""
    return ";".join(f"{key}={_value(value)}" for key, value in attributes.items())


def fabric_connection_string(sql_endpoint: str, database: str, driver: str = FABRIC_DRIVER) -> str:
    """A warehouse's SQL endpoint over ODBC Driver 18, encrypted, authenticated by an access token."""
    return connection_string(
        {
            "Driver": driver,
            "Server": f"{sql_endpoint},1433",
            "Database": database,
            "Encrypt": "yes",
            "TrustServerCertificate": "no",
        }
    )


def local_connection_string(host: str, port: str | int, database: str, user: str, password: str) -> str:
    """The local PostgreSQL warehouse over its ODBC driver."""
    return connection_string(
        {
            "Driver": LOCAL_DRIVER,
            "Server": host,
            "Port": port,
            "Database": database,
            "Uid": user,
            "Pwd": password,
        }
    )


def token_struct(token: str) -> bytes:
    """An access token as ODBC Driver 18 takes it: UTF-16-LE bytes after a 4-byte little-endian length."""
    data = token.encode("utf-16-le")
    return struct.pack("<I", len(data)) + data


def fabric_token(audience: str = SQL_AUDIENCE) -> str:
    """An Entra token for ``audience`` from ``notebookutils.credentials.getToken`` (Fabric only)."""
    import notebookutils

    return str(notebookutils.credentials.getToken(audience))


def connect(odbc: str, token: str | None = None) -> Any:
    """A read-only pyodbc connection (``token``: an Entra access token for ODBC Driver 18).

    Raises ``pyodbc.Error`` as pyodbc does."""
    pyodbc = pyodbc_module()
    attrs = {SQL_COPT_SS_ACCESS_TOKEN: token_struct(token)} if token else None
    return pyodbc.connect(odbc, attrs_before=attrs, timeout=LOGIN_TIMEOUT_SECONDS, readonly=True)


def pyodbc_module() -> Any:
    """The pyodbc module (:class:`PlatformError` when it is not installed)."""
    try:
        import pyodbc
    except ImportError as exc:
        raise PlatformError(
            "pyodbc is not installed in this Spark runtime: control queries cannot use ODBC "
            "(set warehouse_control to 'spark')"
        ) from exc
    return pyodbc


def control_rows(odbc: str, query: str, limit: int = 2, token: str | None = None) -> list[dict[str, Any]]:
    """Run one control query over ODBC; at most ``limit`` rows as dicts (column names lower-cased)."""
    pyodbc = pyodbc_module()
    try:
        connection = connect(odbc, token)
    except pyodbc.Error as exc:
        raise SourceReadError(f"cannot connect over ODBC: {message(exc)}") from exc
    try:
        cursor = connection.cursor()
        cursor.execute(query)
        if cursor.description is None:
            raise SourceReadError("the control query returned no result set")
        names = [column[0].lower() for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchmany(limit)]
    except pyodbc.Error as exc:
        raise SourceReadError(f"control query failed over ODBC: {message(exc)}") from exc
    finally:
        connection.close()


def message(exc: BaseException) -> str:
    """A pyodbc error as one short line."""
    text = " ".join(str(part) for part in getattr(exc, "args", ()) or (exc,))
    return " ".join(text.split())[:500]


def odbc_period(config: ExportConfig, query: str, platform: Platform) -> tuple[datetime, datetime]:
    """``period_date_query`` of a warehouse row over ODBC, without Spark (the Python engine)."""
    from . import period_from_rows

    conn = platform.warehouse(config.source_workspace, config.source_datastore)
    token = fabric_token() if conn.dialect == "tsql" else None
    try:
        rows = control_rows(conn.odbc, query, 2, token)
    except SourceReadError as exc:
        raise SourceReadError(f"period_date_query failed: {exc}", config.key) from exc
    return period_from_rows(rows, config.key)
