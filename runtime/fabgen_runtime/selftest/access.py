"""The self-test's access checks: Entra tokens, the ODBC driver, the Fabric Spark connector.

Each check takes what it probes as an argument (``getToken``, a pyodbc loader, an importer), so a
test hands it a broken stand-in and sees its row fail. A token is never shown: only the claims that
say whom it was issued to, for which audience, and until when (read without verifying the signature,
which is the service's job).
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import time
from collections.abc import Callable
from typing import Any

from ..sources.odbc import FABRIC_DRIVER, SQL_AUDIENCE
from .model import Row, outcome

#: What the ``aud`` claim must contain for an audience whose service checks it (Azure SQL, so Fabric's
#: SQL endpoints, accepts tokens for ``https://database.windows.net/`` only); other audiences are shown.
AUDIENCE_CLAIMS = {SQL_AUDIENCE: "database.windows.net"}
IDENTITY_CLAIMS = ("upn", "unique_name", "preferred_username", "app_displayname", "appid", "oid")


def claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT-shaped token (not verified), or None when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    body = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        value = json.loads(base64.urlsafe_b64decode(body.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    return value if isinstance(value, dict) else None


def check_token(check: str, get_token: Callable[[str], Any], audience: str, now: float | None = None) -> Row:
    """``storage_token`` / ``database_token``: ``get_token(audience)`` gives a token, unexpired."""
    try:
        token = get_token(audience)
    except Exception as exc:  # notebookutils raises its own (Java-backed) errors
        return outcome(check, False, f"getToken({audience!r}) raised {type(exc).__name__}: {exc}")
    if not isinstance(token, str) or not token.strip():
        return outcome(check, False, f"getToken({audience!r}) returned {type(token).__name__} {token!r:.40}")
    found = claims(token)
    if found is None:
        return outcome(
            check,
            True,
            f"getToken({audience!r}): a token of {len(token)} characters (not a JWT: no claims to show)",
        )
    who = ", ".join(f"{key} {found[key]}" for key in IDENTITY_CLAIMS if found.get(key)) or "no identity claim"
    seen = f"getToken({audience!r}): a JWT for aud {found.get('aud')!r}, issued to {who}"
    wanted = AUDIENCE_CLAIMS.get(audience)
    if wanted and wanted not in str(found.get("aud", "")):
        return outcome(check, False, f"{seen}: not a token for {wanted}")
    expires = found.get("exp")
    if isinstance(expires, int | float):
        left = (expires - (time.time() if now is None else now)) / 60
        if left <= 0:
            return outcome(check, False, f"{seen}: expired {-left:.0f} min ago")
        seen += f", expires in {left:.0f} min"
    return outcome(check, True, seen)


def check_odbc_driver(load_pyodbc: Callable[[], Any] | None = None) -> Row:
    """``odbc_driver_18``: pyodbc imports and ``pyodbc.drivers()`` lists ODBC Driver 18."""
    try:
        pyodbc = load_pyodbc() if load_pyodbc else importlib.import_module("pyodbc")
    except ImportError as exc:
        return outcome("odbc_driver_18", False, f"pyodbc does not import: {exc}")
    drivers = [str(d) for d in pyodbc.drivers()]
    version = getattr(pyodbc, "version", "?")
    listed = ", ".join(drivers) or "no driver"
    if FABRIC_DRIVER not in drivers:
        return outcome("odbc_driver_18", False, f"pyodbc {version} lists {listed}: no {FABRIC_DRIVER}")
    return outcome("odbc_driver_18", True, f"pyodbc {version} lists {listed}")


def check_synapsesql(reader: Any, importer: Callable[[str], Any] | None = None) -> Row:
    """``synapsesql_connector``: the connector imports, and ``reader`` (``spark.read``) gains
    ``synapsesql``; its ``Constants`` name the two options fabgen passes."""
    load = importer or importlib.import_module
    try:
        load("com.microsoft.spark.fabric")
        constants = load("com.microsoft.spark.fabric.Constants").Constants
    except ImportError as exc:
        return outcome("synapsesql_connector", False, f"com.microsoft.spark.fabric does not import: {exc}")
    missing = [name for name in ("DatabaseName", "WorkspaceId") if not getattr(constants, name, None)]
    if missing:
        return outcome("synapsesql_connector", False, f"Constants lacks {', '.join(missing)}")
    if not callable(getattr(reader, "synapsesql", None)):
        return outcome(
            "synapsesql_connector", False, "the connector imported but spark.read has no synapsesql"
        )
    return outcome(
        "synapsesql_connector",
        True,
        "com.microsoft.spark.fabric imported; spark.read.synapsesql and Constants.DatabaseName / "
        "WorkspaceId exist",
    )
