"""Records of the local Fabric REST server (:mod:`fabric_api`): requests, items, operations, faults.

Plain data: the server's in-memory state (:class:`ServerItem`, :class:`Operation`), what it answered
(:class:`RecordedRequest`), the failures tests inject (:class:`Fault`) and the error it raises while
answering (:class:`ApiError`, sent in Fabric's ErrorResponse shape).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_GUID = r"[0-9a-fA-F-]{36}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class RecordedRequest:
    """One request the server answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any  # parsed JSON, or raw bytes, or None
    status: int = 0

    @property
    def route(self) -> str:
        """The path with GUIDs replaced by ``{id}``: easy to assert on."""
        return re.sub(_GUID, "{id}", self.path)


@dataclass
class ServerItem:
    """An item in the fake workspace."""

    id: str
    type: str
    display_name: str
    description: str = ""
    folder_id: str | None = None
    parts: dict[str, bytes] = field(default_factory=dict)  # definition path -> decoded bytes
    definition_format: str | None = None
    updates: int = 0
    publish_state: str | None = None  # Environment items: "Success", "Running", ...
    publish_polls_left: int = 0

    def to_json(self, workspace_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "displayName": self.display_name,
            "description": self.description,
            "workspaceId": workspace_id,
        }
        if self.folder_id:
            body["folderId"] = self.folder_id
        if self.type == "Environment":
            state = self.publish_state or "Success"
            body["properties"] = {
                "publishDetails": {
                    "state": state,
                    "targetVersion": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{self.id}/{self.updates}")),
                    "startTime": _now(),
                    "endTime": _now(),
                    "componentPublishInfo": {
                        "sparkLibraries": {"state": state},
                        "sparkSettings": {"state": state},
                    },
                }
            }
        return body


@dataclass
class Operation:
    """A long-running operation."""

    id: str
    result: Any  # None: the operation has no result
    polls_left: int
    error: dict[str, Any] | None = None


@dataclass
class Fault:
    """Answer matching requests with an error: skip ``skip`` matches, then fail ``times`` of them."""

    status: int
    method: str | None = None
    path: str | None = None  # regex searched in the path
    skip: int = 0
    times: int = 1
    error_code: str = "InternalServerError"
    message: str = "Injected failure"
    in_operation: bool = False  # accept the request (202), then let its long-running operation fail
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or re.search(self.path, path)
        )


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
