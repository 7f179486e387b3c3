"""The runtime wheel in OneLake: where the notebooks install it from, and ``fabgen deploy``'s upload.

A notebook that installs the runtime in-line (every Fabric Python notebook, and Spark notebooks with
``runtime.install: inline``) reads ``fabgen_runtime-<v>-py3-none-any.whl`` from the config lakehouse's
``<runtime.wheel_path>`` (default ``Files/fabgen/wheels``). :func:`runtime_wheel_file` names that file
once, for the render (the notebook's abfss URI) and for the deploy (the upload), in OneLake's two forms:

- GUID form when the environment gives both the config lakehouse's id and its workspace's id:
  ``abfss://<workspace guid>@onelake.dfs.fabric.microsoft.com/<lakehouse guid>/Files/...``;
- name form otherwise (``render`` without ``--env`` knows no ids):
  ``abfss://<workspace>@onelake.dfs.fabric.microsoft.com/<lakehouse>.Lakehouse/Files/...``.

:func:`upload_wheel` puts the wheel there through OneLake's ADLS Gen2 API (azure-storage-file-datalake:
``DataLakeServiceClient("https://onelake.dfs.fabric.microsoft.com")``, file system = the workspace,
path from the item on), and skips it when the file there already has the same bytes: the same size and
the same SHA-256, which fabgen stores in the file's metadata (``fabgen_sha256``) when it uploads.

Settings (environment variables):

- ``FABGEN_ONELAKE_URL``: another account URL (tests: Azurite, ``https://127.0.0.1:<port>/onelake``);
- ``FABGEN_ONELAKE_API``: ``dfs`` (default, ADLS Gen2, what OneLake documents) or ``blob`` (the Blob
  API: Azurite has no ADLS Gen2 endpoint, so the tests write through it; OneLake serves both);
- ``FABGEN_ONELAKE_TOKEN``: a bearer token for ``https://storage.azure.com`` used for the upload
  instead of the deploy's credential (useful with ``FABGEN_FABRIC_TOKEN``, a token for Fabric's API).
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabgen_runtime.errors import ConfigError, ConfigIssue, FabgenError
from fabgen_runtime.platform import is_guid

from .environments import EnvironmentMapping
from .project import ProjectSettings
from .wheel import wheel_filename

ONELAKE_HOST = "onelake.dfs.fabric.microsoft.com"
DEFAULT_ACCOUNT_URL = f"https://{ONELAKE_HOST}"
URL_ENV = "FABGEN_ONELAKE_URL"
API_ENV = "FABGEN_ONELAKE_API"
TOKEN_ENV = "FABGEN_ONELAKE_TOKEN"
SHA256_KEY = "fabgen_sha256"  # the file metadata holding the SHA-256 of the bytes fabgen uploaded
APIS = ("dfs", "blob")


class UploadError(FabgenError):
    """The runtime wheel could not be checked or uploaded to OneLake."""


@dataclass(frozen=True)
class OneLakeFile:
    """A file of a lakehouse: its workspace (name or GUID) and its path from the item on."""

    workspace: str  # OneLake's container (ADLS Gen2 file system)
    path: str  # "<lakehouse>.Lakehouse/Files/..." or "<lakehouse guid>/Files/..."

    @property
    def abfss(self) -> str:
        """The URI a notebook reads it at (``notebookutils.fs``, Spark, delta-rs)."""
        return f"abfss://{self.workspace}@{ONELAKE_HOST}/{self.path}"

    def url(self, account_url: str | None = None) -> str:
        """The HTTPS URL of the file at ``account_url`` (default: :func:`account_url`)."""
        base = (account_url or onelake_account_url()).rstrip("/")
        return f"{base}/{urllib.parse.quote(self.workspace)}/{urllib.parse.quote(self.path)}"


def wheel_folder(settings: ProjectSettings) -> str:
    """``runtime.wheel_path`` without surrounding slashes (validated to lie under ``Files/``)."""
    return settings.runtime.wheel_path.strip("/")


def runtime_wheel_file(settings: ProjectSettings, mapping: EnvironmentMapping, version: str) -> OneLakeFile:
    """Where the runtime wheel of ``version`` lives: the config lakehouse's ``<runtime.wheel_path>/``."""
    ref = settings.config_lakehouse
    workspace = mapping.workspace(ref.workspace)
    lakehouse = mapping.lakehouse(ref.workspace, ref.lakehouse)
    workspace_id = mapping.workspace_id(ref.workspace) or (workspace if is_guid(workspace) else None)
    lakehouse_id = mapping.lakehouse_id(ref.workspace, ref.lakehouse) or (
        lakehouse if is_guid(lakehouse) else None
    )
    relative = f"{wheel_folder(settings)}/{wheel_filename(version)}"
    if workspace_id and lakehouse_id:
        return OneLakeFile(workspace_id, f"{lakehouse_id}/{relative}")
    return OneLakeFile(workspace, f"{lakehouse}.Lakehouse/{relative}")


# --------------------------------------------------------------------------- the upload


def onelake_account_url() -> str:
    """``FABGEN_ONELAKE_URL`` or OneLake's ADLS Gen2 endpoint."""
    return (os.environ.get(URL_ENV) or DEFAULT_ACCOUNT_URL).rstrip("/")


def onelake_api() -> str:
    """``FABGEN_ONELAKE_API``: ``dfs`` (default) or ``blob``."""
    api = (os.environ.get(API_ENV) or "dfs").strip().lower()
    if api not in APIS:
        raise ConfigError(ConfigIssue("environment", API_ENV, f"must be dfs or blob, got {api!r}"))
    return api


def storage_credential(credential: Any) -> Any:
    """The credential of the upload: ``FABGEN_ONELAKE_TOKEN`` when set, else the deploy's ``credential``."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        from .deploy import StaticTokenCredential

        return StaticTokenCredential(token)
    return credential


@dataclass(frozen=True)
class RemoteFile:
    """What OneLake says of the file: its size and the SHA-256 fabgen stored (None: none stored)."""

    size: int
    sha256: str | None


@dataclass(frozen=True)
class WheelStep:
    """The deploy's wheel step: ``upload`` (or, with ``--dry-run``, would upload) or ``skip``."""

    verb: str  # "upload" | "skip"
    target: OneLakeFile
    wheel: Path
    reason: str = ""

    def __str__(self) -> str:
        why = f"  ({self.reason})" if self.reason else ""
        return f"{self.verb:<7} {'Wheel':<12} {self.target.abfss}{why}"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def same_bytes(remote: RemoteFile | None, data: bytes) -> bool:
    """True when ``remote`` holds ``data``: the same size and the SHA-256 fabgen stored with it."""
    return remote is not None and remote.size == len(data) and remote.sha256 == sha256_of(data)


class _Store:
    """One file of OneLake through the ADLS Gen2 API (``dfs``) or the Blob API (``blob``)."""

    def __init__(self, target: OneLakeFile, credential: Any, account_url: str, api: str):
        self.target, self.api = target, api
        if api == "blob":
            from azure.storage.blob import BlobServiceClient

            service = BlobServiceClient(account_url.replace(".dfs.", ".blob."), credential=credential)
            self.client: Any = service.get_blob_client(target.workspace, target.path)
        else:
            from azure.storage.filedatalake import DataLakeServiceClient

            service_dl = DataLakeServiceClient(account_url, credential=credential)
            self.client = service_dl.get_file_system_client(target.workspace).get_file_client(target.path)

    def stat(self) -> RemoteFile | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            if self.api == "blob":
                properties = self.client.get_blob_properties()
            else:
                properties = self.client.get_file_properties()
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) in (None, "BlobNotFound", "PathNotFound"):
                return None
            raise  # ContainerNotFound / FilesystemNotFound: the workspace is wrong, say so
        metadata = {key.lower(): value for key, value in (properties.metadata or {}).items()}
        return RemoteFile(int(properties.size), metadata.get(SHA256_KEY))

    def write(self, data: bytes) -> None:
        metadata = {SHA256_KEY: sha256_of(data)}
        if self.api == "blob":
            self.client.upload_blob(data, overwrite=True, metadata=metadata)
        else:
            self.client.upload_data(data, overwrite=True, metadata=metadata)


_SDK_DETAIL = ("ErrorCode:", "RequestId:", "Time:")  # lines the storage SDK appends to its messages
_INVALID_STATUS = re.compile(r"^Operation returned an invalid status '(.*)'$")


def _cause(exc: BaseException) -> str:
    """One line: the HTTP status and the storage error code when there are, then the message."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    code = getattr(exc, "error_code", None)
    lines = []
    for line in (line.strip() for line in str(exc).splitlines()):
        if line.startswith("Content:"):  # the response body follows: the code and message say it
            break
        if line and not line.startswith(_SDK_DETAIL):
            match = _INVALID_STATUS.match(line)
            lines.append(match.group(1) if match else line)
    message = " ".join(lines) or str(getattr(exc, "reason", None) or type(exc).__name__)
    text = " ".join(p for p in (f"HTTP {status}" if status else "", code or "", message) if p)
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= 400 else text[:397] + "..."


def _store(target: OneLakeFile, credential: Any) -> _Store:
    try:
        return _Store(target, storage_credential(credential), onelake_account_url(), onelake_api())
    except ImportError:
        raise UploadError(
            "azure-storage-file-datalake is not installed: pip install 'fabgen[deploy]'"
        ) from None


def check_wheel_upload(target: OneLakeFile, wheel: Path, credential: Any) -> WheelStep:
    """What :func:`upload_wheel` would do (a read-only HEAD); ``upload`` with the reason when unsure.

    ``credential`` None (a dry run without one): not checked, unless ``FABGEN_ONELAKE_TOKEN`` is set.
    """
    data = wheel.read_bytes()
    if storage_credential(credential) is None:
        return WheelStep("upload", target, wheel, "not checked: no credential")
    try:
        remote = _store(target, credential).stat()
    except UploadError as exc:  # the client is not installed: the deploy itself would stop there
        return WheelStep("upload", target, wheel, f"not checked: {exc}")
    except Exception as exc:  # the SDK's errors, auth, network: a dry run only reports them
        return WheelStep("upload", target, wheel, f"not checked: {_cause(exc)}")
    if same_bytes(remote, data):
        return WheelStep("skip", target, wheel, "the same bytes are there")
    return WheelStep("upload", target, wheel, "not there" if remote is None else "different bytes there")


def upload_wheel(target: OneLakeFile, wheel: Path, credential: Any) -> WheelStep:
    """Upload ``wheel`` to ``target`` unless the same bytes are there; :class:`UploadError` on failure.

    After an upload the file's size is read back and compared. The error names the HTTPS URL and the
    cause (HTTP status, storage error code, message; or the connection error).
    """
    data = wheel.read_bytes()
    url = target.url()
    store = _store(target, credential)
    try:
        remote = store.stat()
        if same_bytes(remote, data):
            return WheelStep("skip", target, wheel, "the same bytes are there")
        store.write(data)
        written = store.stat()
    except Exception as exc:
        raise UploadError(f"uploading the runtime wheel to {url} failed: {_cause(exc)}") from exc
    if written is None or written.size != len(data):
        found = "no file" if written is None else f"{written.size} bytes"
        sent = f"{len(data)} bytes sent, {found} there"
        raise UploadError(f"uploading the runtime wheel to {url} failed: {sent}")
    return WheelStep("upload", target, wheel, "not there" if remote is None else "different bytes there")
