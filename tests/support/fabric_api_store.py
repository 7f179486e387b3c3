"""The in-memory workspace behind the local Fabric REST server: items, environments, folders, operations.

:class:`FabricApiStore` holds the endpoint implementations; :class:`fabric_api.FabricApiServer` routes
requests to them (under its lock) and owns the state they work on.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import uuid
from typing import Any

from fabric_api_model import ApiError, Operation, ServerItem, _now


class FabricApiStore:
    """Fabric's workspace, item, environment, folder and long-running-operation endpoints, in memory."""

    workspace_id: str
    workspace_name: str
    capacity_id: str | None
    lro_polls: int
    environment_polls: int
    page_size: int | None
    items: dict[str, ServerItem]
    folders: dict[str, dict[str, Any]]
    operations: dict[str, Operation]
    lock: threading.RLock

    @property
    def url(self) -> str:
        raise NotImplementedError

    def find(self, type: str, name: str) -> ServerItem | None:
        with self.lock:
            return next((i for i in self.items.values() if i.type == type and i.display_name == name), None)

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
