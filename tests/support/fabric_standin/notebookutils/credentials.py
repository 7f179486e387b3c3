"""``notebookutils.credentials.getToken(audience)``: an Entra access token for ``audience``.

Microsoft documents ``notebookutils.credentials.getToken('audience Key')`` with keys such as
``storage``, ``pbi``, ``keyvault``, ``kusto`` (notebook-utilities, "Credentials utilities"); fabgen
passes Azure SQL's resource id for the warehouses' SQL endpoints (unverified on Fabric).
"""

from __future__ import annotations

import json
import os

audiences: list[str] = []


def getToken(audience: str) -> str:
    """The token for ``audience`` in ``FABRIC_STANDIN_TOKENS`` (a JSON object), else the one in
    ``FABRIC_STANDIN_TOKEN`` (default ``standin-token``); records the audience."""
    if not isinstance(audience, str) or not audience:
        raise ValueError("getToken needs an audience")
    audiences.append(audience)
    by_audience = json.loads(os.environ.get("FABRIC_STANDIN_TOKENS") or "{}")
    return str(by_audience.get(audience) or os.environ.get("FABRIC_STANDIN_TOKEN", "standin-token"))
