"""``notebookutils.runtime.context``: a dict describing this run.

Microsoft documents the keys ``currentWorkspaceName``, ``currentWorkspaceId``, ``currentNotebookName``,
``currentNotebookId``, ``defaultLakehouseName``, ``defaultLakehouseId``, ``isForPipeline``,
``currentRunId`` (notebook-utilities, "Runtime utilities": ``notebookutils.runtime.context``).
"""

from __future__ import annotations

import json
import os

_DEFAULTS = {
    "currentWorkspaceName": "DEV_WORKSPACE",
    "currentWorkspaceId": "00000000-0000-4000-8000-00000000face",
    "currentNotebookName": "standin",
    "currentNotebookId": "00000000-0000-4000-8000-00000000b00c",
    "defaultLakehouseName": None,
    "defaultLakehouseId": None,
    "isForPipeline": False,
    "currentRunId": None,
}


class _Context(dict):
    """Re-reads ``FABRIC_STANDIN_CONTEXT`` on every access, so tests can change it per case."""

    def _fresh(self) -> dict:
        return {**_DEFAULTS, **json.loads(os.environ.get("FABRIC_STANDIN_CONTEXT") or "{}")}

    def __getitem__(self, key):  # type: ignore[no-untyped-def]
        return self._fresh()[key]

    def get(self, key, default=None):  # type: ignore[no-untyped-def]
        return self._fresh().get(key, default)

    def keys(self):  # type: ignore[no-untyped-def]
        return self._fresh().keys()

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._fresh())

    def __len__(self) -> int:
        return len(self._fresh())


context = _Context()
