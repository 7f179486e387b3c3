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

The module is split by concern: :mod:`fabric_api_model` (records: requests, items, operations, faults),
:mod:`fabric_api_store` (the in-memory workspace and its endpoints); this module has the server
itself (lifecycle, test helpers, fault dispatch, routing), its HTTP handler and :func:`fake_jwt`, and
re-exports the rest, so tests import everything from ``fabric_api``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fabric_api_model import _GUID, ApiError, Fault, Operation, RecordedRequest, ServerItem
from fabric_api_store import FabricApiStore

__all__ = [
    "ApiError",
    "FabricApiServer",
    "FabricApiStore",
    "Fault",
    "Operation",
    "RecordedRequest",
    "ServerItem",
    "fake_jwt",
]


class FabricApiServer(FabricApiStore):
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
