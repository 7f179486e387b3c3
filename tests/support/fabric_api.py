"""A local stand-in for Microsoft Fabric's REST API: what fabric-cicd 1.4 calls, on 127.0.0.1.

Implemented from Fabric's REST reference and fabric-cicd's source (shapes in docs/deploy.md):

- ``GET  /v1/workspaces`` and ``/v1/workspaces/{ws}`` (with ``capacityId``: fabric-cicd refuses a
  workspace without capacity)
- ``GET  /v1/workspaces/{ws}/items`` (``value`` list with id, type, displayName, description, workspaceId,
  folderId; paged with ``continuationToken``/``continuationUri`` when ``page_size`` is set)
- ``POST /v1/workspaces/{ws}/items`` create (with ``definition.parts``: path, payload, payloadType
  ``InlineBase64``): a long-running operation whose result is the new item
- ``GET|PATCH|DELETE /v1/workspaces/{ws}/items/{id}``, ``POST .../items/{id}/move``
- ``POST .../items/{id}/updateDefinition[?updateMetadata=True]`` (a long-running operation without result)
- ``POST .../items/{id}/getDefinition`` (a long-running operation whose result is ``{"definition": ...}``)
- long-running operations: ``202`` with ``Location``, ``x-ms-operation-id`` and ``Retry-After``; then
  ``GET /v1/operations/{id}`` (``Running`` for ``lro_polls`` polls, then ``Succeeded`` with a ``Location``
  to ``/v1/operations/{id}/result`` when there is a result) and ``GET /v1/operations/{id}/result``
- Environment items: ``GET .../environments[/]`` and ``.../environments/{id}``
  (``properties.publishDetails.state``),
  ``POST .../environments/{id}/staging/publish`` (202; the state is ``Running`` for ``environment_polls``
  list calls, then ``Success``)
- ``GET|POST .../folders``, ``DELETE .../folders/{id}``, ``GET .../spark/pools``

Every request is recorded (:attr:`FabricApiServer.requests`); :meth:`FabricApiServer.inject` makes
matching requests fail (e.g. the 5th request answers 500, or an updateDefinition answers 400, or is
accepted and its long-running operation ends ``Failed``).
Requests without ``Authorization: Bearer ...`` get 401. Errors use Fabric's ErrorResponse shape and the
``x-ms-public-api-error-code`` header.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

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


class FabricApiServer:
    """A threaded HTTP server on 127.0.0.1 (random port) answering like Fabric's REST API."""

    def __init__(
        self,
        workspace_id: str,
        workspace_name: str = "fabgen-test",
        capacity_id: str | None = "11111111-2222-3333-4444-555555555555",
        lro_polls: int = 1,
        environment_polls: int = 1,
        page_size: int | None = None,
    ):
        self.workspace_id = workspace_id
        self.workspace_name = workspace_name
        self.capacity_id = capacity_id
        self.lro_polls = lro_polls
        self.environment_polls = environment_polls
        self.page_size = page_size
        self.items: dict[str, ServerItem] = {}
        self.folders: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, Operation] = {}
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.unhandled: list[str] = []
        self.lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FabricApiServer:
        server = self

        class Handler(_Handler):
            api = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fabric-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FabricApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- test helpers ------------------------------------------------------------------------
    def inject(self, status: int = 500, **kwargs: Any) -> Fault:
        """Make matching requests fail; see :class:`Fault`."""
        fault = Fault(status=status, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def add_item(
        self, type: str, name: str, description: str = "", parts: dict[str, bytes] | None = None
    ) -> str:
        """Put an item in the workspace as if someone had created it before."""
        item = ServerItem(str(uuid.uuid4()), type, name, description, parts=dict(parts or {}))
        with self.lock:
            self.items[item.id] = item
        return item.id

    def fail_operation(self, op_id: str | None, fault: Fault) -> None:
        """End operation ``op_id`` as ``Failed`` with the fault's error (Fabric's operation error shape)."""
        with self.lock:
            operation = self.operations.get(op_id or "")
            if operation is None:
                raise ApiError(500, "FaultNotApplicable", "in_operation fault on a request without operation")
            operation.error = {"errorCode": fault.error_code, "message": fault.message}

    def find(self, type: str, name: str) -> ServerItem | None:
        with self.lock:
            return next((i for i in self.items.values() if i.type == type and i.display_name == name), None)

    def mutating_requests(self) -> list[RecordedRequest]:
        """Requests that could change the workspace (anything but GET and getDefinition)."""
        return [r for r in self.requests if r.method != "GET" and not r.path.endswith("/getDefinition")]

    # ---- dispatch ------------------------------------------------------------------------------
    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.times -= 1
                    fault.hits += 1
                    return fault
        return None

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        ws = self.workspace_id
        base = f"/v1/workspaces/{ws}"
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"/v1/workspaces/?", self._list_workspaces),
            ("GET", rf"{base}/?", self._get_workspace),
            ("GET", rf"{base}/items/?", self._list_items),
            ("POST", rf"{base}/items/?", self._create_item),
            ("GET", rf"{base}/items/(?P<id>{_GUID})", self._get_item),
            ("PATCH", rf"{base}/items/(?P<id>{_GUID})", self._patch_item),
            ("DELETE", rf"{base}/items/(?P<id>{_GUID})", self._delete_item),
            ("POST", rf"{base}/items/(?P<id>{_GUID})/move", self._move_item),
            ("POST", rf"{base}/items/(?P<id>{_GUID})/updateDefinition", self._update_definition),
            ("POST", rf"{base}/items/(?P<id>{_GUID})/getDefinition", self._get_definition),
            ("GET", rf"{base}/environments/?", self._list_environments),
            ("GET", rf"{base}/environments/(?P<id>{_GUID})", self._get_environment),
            ("POST", rf"{base}/environments/(?P<id>{_GUID})/staging/publish", self._publish_environment),
            ("GET", rf"{base}/folders/?", self._list_folders),
            ("POST", rf"{base}/folders/?", self._create_folder),
            ("DELETE", rf"{base}/folders/(?P<id>{_GUID})", self._delete_folder),
            ("GET", rf"{base}/spark/pools/?", lambda **_: (200, {"value": []}, {})),
            ("GET", rf"/v1/operations/(?P<op>{_GUID})", self._operation_state),
            ("GET", rf"/v1/operations/(?P<op>{_GUID})/result", self._operation_result),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                with self.lock:
                    return handler(query=query, body=body, **match.groupdict())
        if re.fullmatch(rf"/v1/workspaces/{_GUID}(/.*)?", path) and not path.startswith(base):
            raise ApiError(404, "WorkspaceNotFound", f"The workspace of {path} does not exist")
        with self.lock:
            self.unhandled.append(f"{method} {path}")
        raise ApiError(404, "EntityNotFound", f"No route for {method} {path}")

    # ---- long-running operations ------------------------------------------------------------
    def _start_operation(
        self, result: Any, error: dict[str, Any] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        op = Operation(str(uuid.uuid4()), result, self.lro_polls, error)
        self.operations[op.id] = op
        return 202, None, self._lro_headers(op.id, f"/v1/operations/{op.id}")

    def _lro_headers(self, op_id: str, location: str | None) -> dict[str, str]:
        headers = {"x-ms-operation-id": op_id, "Retry-After": "1"}
        if location:
            headers["Location"] = self.url + location
        return headers

    def _operation_state(self, op: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        operation = self.operations.get(op)
        if operation is None:
            raise ApiError(404, "OperationNotFound", f"Operation {op} does not exist")
        state: dict[str, Any] = {"createdTimeUtc": _now(), "lastUpdatedTimeUtc": _now()}
        if operation.polls_left > 0:
            operation.polls_left -= 1
            state.update(status="Running", percentComplete=50)
            return 200, state, self._lro_headers(op, f"/v1/operations/{op}")
        if operation.error is not None:
            state.update(status="Failed", percentComplete=100, error=operation.error)
            return 200, state, self._lro_headers(op, None)
        state.update(status="Succeeded", percentComplete=100)
        location = f"/v1/operations/{op}/result" if operation.result is not None else None
        return 200, state, self._lro_headers(op, location)

    def _operation_result(self, op: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        operation = self.operations.get(op)
        if operation is None or operation.result is None or operation.polls_left > 0:
            raise ApiError(400, "OperationHasNoResult", f"Operation {op} has no result")
        return 200, operation.result, {}

    # ---- workspaces and items ----------------------------------------------------------------
    def _workspace_json(self) -> dict[str, Any]:
        body = {
            "id": self.workspace_id,
            "displayName": self.workspace_name,
            "description": "",
            "type": "Workspace",
        }
        if self.capacity_id:
            body["capacityId"] = self.capacity_id
        return body

    def _list_workspaces(self, **_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, {"value": [self._workspace_json()]}, {}

    def _get_workspace(self, **_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, self._workspace_json(), {}

    def _list_items(self, query: dict[str, list[str]], **_: Any) -> tuple[int, Any, dict[str, str]]:
        wanted = query.get("type", [None])[0]
        values = [i.to_json(self.workspace_id) for i in self.items.values() if wanted in (None, i.type)]
        values.sort(key=lambda v: (v["type"], v["displayName"]))
        if self.page_size is None:
            return 200, {"value": values}, {}
        start = int(query.get("continuationToken", ["0"])[0])
        page = values[start : start + self.page_size]
        body: dict[str, Any] = {"value": page}
        if start + self.page_size < len(values):
            token = str(start + self.page_size)
            body["continuationToken"] = token
            body["continuationUri"] = (
                f"{self.url}/v1/workspaces/{self.workspace_id}/items?continuationToken={token}"
            )
        return 200, body, {}

    def _item(self, id: str) -> ServerItem:
        item = self.items.get(id)
        if item is None:
            raise ApiError(404, "ItemNotFound", f"The requested item {id} was not found")
        return item

    @staticmethod
    def _decode_definition(body: Any) -> tuple[dict[str, bytes], str | None]:
        definition = body.get("definition") if isinstance(body, dict) else None
        if not isinstance(definition, dict) or not isinstance(definition.get("parts"), list):
            raise ApiError(400, "InvalidDefinition", "definition.parts is required")
        parts: dict[str, bytes] = {}
        for part in definition["parts"]:
            if not isinstance(part, dict) or not {"path", "payload", "payloadType"} <= part.keys():
                raise ApiError(
                    400, "InvalidDefinitionParts", f"a part needs path, payload and payloadType: {part}"
                )
            if part["payloadType"] != "InlineBase64":
                raise ApiError(
                    400, "InvalidDefinitionParts", f"unsupported payloadType {part['payloadType']!r}"
                )
            if part["path"] in parts:
                raise ApiError(400, "InvalidDefinitionParts", f"duplicate part {part['path']!r}")
            try:
                parts[part["path"]] = base64.b64decode(part["payload"], validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(
                    400, "InvalidDefinitionParts", f"part {part['path']!r} is not base64"
                ) from None
        return parts, definition.get("format")

    def _create_item(self, body: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or not body.get("displayName") or not body.get("type"):
            raise ApiError(400, "InvalidRequest", "displayName and type are required")
        if self.find(body["type"], body["displayName"]):
            raise ApiError(409, "ItemDisplayNameAlreadyInUse", f"{body['displayName']} is already in use")
        parts, fmt = self._decode_definition(body) if "definition" in body else ({}, None)
        item = ServerItem(
            id=str(uuid.uuid4()),
            type=body["type"],
            display_name=body["displayName"],
            description=body.get("description") or "",
            folder_id=body.get("folderId") or None,
            parts=parts,
            definition_format=fmt,
        )
        self.items[item.id] = item
        if "definition" in body:
            return self._start_operation(item.to_json(self.workspace_id))
        return 201, item.to_json(self.workspace_id), {}

    def _get_item(self, id: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, self._item(id).to_json(self.workspace_id), {}

    def _patch_item(self, id: str, body: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        item = self._item(id)
        item.display_name = body.get("displayName", item.display_name)
        item.description = body.get("description", item.description)
        return 200, item.to_json(self.workspace_id), {}

    def _delete_item(self, id: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        self._item(id)
        del self.items[id]
        return 200, None, {}

    def _move_item(self, id: str, body: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        self._item(id).folder_id = (body or {}).get("targetFolderId") or None
        return 200, None, {}

    def _update_definition(
        self, id: str, query: dict[str, list[str]], body: Any, **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        item = self._item(id)
        parts, fmt = self._decode_definition(body)
        update_metadata = query.get("updateMetadata", ["false"])[0].lower() == "true"
        if update_metadata and ".platform" in parts:
            metadata = json.loads(parts[".platform"]).get("metadata", {})
            item.display_name = metadata.get("displayName", item.display_name)
            item.description = metadata.get("description", item.description)
        item.parts, item.definition_format = parts, fmt
        item.updates += 1
        return self._start_operation(None)

    def _get_definition(self, id: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        item = self._item(id)
        parts = [
            {"path": path, "payload": base64.b64encode(data).decode("ascii"), "payloadType": "InlineBase64"}
            for path, data in sorted(item.parts.items())
        ]
        return self._start_operation({"definition": {"parts": parts}})

    # ---- environments --------------------------------------------------------------------------
    def _environment(self, id: str) -> ServerItem:
        item = self._item(id)
        if item.type != "Environment":
            raise ApiError(404, "ItemNotFound", f"{id} is not an Environment")
        return item

    def _list_environments(self, **_: Any) -> tuple[int, Any, dict[str, str]]:
        values = []
        for item in self.items.values():
            if item.type != "Environment":
                continue
            if item.publish_state == "Running":
                if item.publish_polls_left > 0:
                    item.publish_polls_left -= 1
                else:
                    item.publish_state = "Success"
            values.append(item.to_json(self.workspace_id))
        return 200, {"value": values}, {}

    def _get_environment(self, id: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, self._environment(id).to_json(self.workspace_id), {}

    def _publish_environment(self, id: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        item = self._environment(id)
        libraries = [p for p in item.parts if p.startswith("Libraries/CustomLibraries/")]
        if not libraries and "Setting/Sparkcompute.yml" not in item.parts:
            raise ApiError(400, "InvalidEnvironmentPublish", "Nothing is staged in this environment")
        item.publish_state = "Running"
        item.publish_polls_left = self.environment_polls
        return self._start_operation(None)

    # ---- folders -------------------------------------------------------------------------------
    def _list_folders(self, **_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, {"value": list(self.folders.values())}, {}

    def _create_folder(self, body: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        folder = {
            "id": str(uuid.uuid4()),
            "displayName": body["displayName"],
            "workspaceId": self.workspace_id,
        }
        if body.get("parentFolderId"):
            folder["parentFolderId"] = body["parentFolderId"]
        self.folders[folder["id"]] = folder
        return 201, folder, {}

    def _delete_folder(self, id: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        if self.folders.pop(id, None) is None:
            raise ApiError(404, "FolderNotFound", f"Folder {id} does not exist")
        return 200, None, {}


class _Handler(BaseHTTPRequestHandler):
    api: FabricApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: requests are recorded instead
        return

    def _serve(self) -> None:
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        record = RecordedRequest(self.command, split.path, query, dict(self.headers.items()), body)
        with self.api.lock:
            self.api.requests.append(record)
        headers: dict[str, str] = {}
        try:
            if not (self.headers.get("Authorization") or "").startswith("Bearer "):
                raise ApiError(401, "Unauthorized", "The caller is not authenticated")
            fault = self.api._fault_for(self.command, split.path)
            if fault is not None and not fault.in_operation:
                raise ApiError(fault.status, fault.error_code, fault.message)
            status, payload, headers = self.api.handle(self.command, split.path, query, body)
            if fault is not None:
                self.api.fail_operation(headers.get("x-ms-operation-id"), fault)
        except ApiError as exc:
            status = exc.status
            payload = {"requestId": str(uuid.uuid4()), "errorCode": exc.code, "message": exc.message}
            headers = {"x-ms-public-api-error-code": exc.code}
        record.status = status
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        # fabric-cicd reads Content-Type on every response: always send one.
        self.send_header("Content-Type", "application/json; charset=utf-8" if data else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("requestId", str(uuid.uuid4()))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve


def fake_jwt(claims: dict[str, Any] | None = None) -> str:
    """An unsigned JWT-shaped token (header.payload.) with the identity claims Entra tokens carry."""

    def b64url(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode("ascii")

    payload = {
        "aud": "https://api.fabric.microsoft.com",
        "iss": "https://sts.windows.net/00000000-0000-0000-0000-00000000000a/",
        "tid": "00000000-0000-0000-0000-00000000000a",
        "oid": "00000000-0000-0000-0000-00000000000b",
        "appid": "00000000-0000-0000-0000-00000000000c",
        "upn": "fabgen-test@example.invalid",
        "idtyp": "user",
        "exp": 4102444800,  # 2100-01-01
        **(claims or {}),
    }
    return f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(payload)}."
