"""Reading a Fabric workspace from a laptop: ``--env E`` of ``status``, ``history``, ``report``,
``verify`` and ``local load`` (issue #28).

Everything is read over OneLake with delta-rs (``deltalake``, no Spark, no JVM): the state tables as
Delta tables at their ``abfss://`` URIs, and the files (manifests, owner records, published files)
through delta-rs's object store (:class:`OneLakeFileStore`). Names are environment E's
(:class:`~fabgen.environments.EnvironmentMapping`: workspaces, lakehouses, their ids and layouts), so
a URI is the one a notebook deployed to E uses (GUID form when both ids are known).

The connection is the one ``fabgen deploy`` uses for OneLake (:mod:`fabgen.onelake`):

- ``FABGEN_ONELAKE_TOKEN``: a bearer token for ``https://storage.azure.com``; else the deploy's
  credential (``FABGEN_FABRIC_TOKEN`` is for Fabric's API, so it is not used here; a service principal
  from ``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/``AZURE_CLIENT_SECRET``, else the Azure CLI login) asked
  for a storage token;
- ``FABGEN_ONELAKE_URL``: another account URL (tests: Azurite, ``https://127.0.0.1:<port>/onelake``),
  handed to delta-rs as its endpoint (a ``.dfs.`` host becomes ``.blob.``: delta-rs speaks the Blob
  API, which OneLake serves too).

delta-rs also reads ``AZURE_*`` settings from the environment (e.g. ``AZURE_ALLOW_INVALID_CERTIFICATES``
for an emulator's self-signed certificate).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fabgen_runtime.config import ExportConfig
from fabgen_runtime.configs import parse_configs
from fabgen_runtime.errors import FabgenError
from fabgen_runtime.protocol.store import FileStatus, join

from .environments import EnvironmentMapping, environment_mapping
from .onelake import DEFAULT_ACCOUNT_URL, TOKEN_ENV, URL_ENV
from .project import LakehouseRef, Project

if TYPE_CHECKING:
    from fabgen_runtime.engines.python.state import PythonExportLogger
    from fabgen_runtime.platform import FabricPlatform

log = logging.getLogger(__name__)

STORAGE_SCOPE = "https://storage.azure.com/.default"
TOKEN_REUSE_SECONDS = 15 * 60  # Entra tokens live about an hour; ask again well before that
READ_CHUNK = 4 * 1024 * 1024  # bytes read at a time when hashing a file on OneLake


class OneLakeReadError(FabgenError):
    """OneLake could not be read (no credential, refused, unreachable)."""


class StorageOptions:
    """delta-rs ``storage_options`` for OneLake, built at each use (a token kept 15 minutes).

    ``token`` gives the bearer token (:func:`storage_token` by default).
    """

    def __init__(self, token: Callable[[], str] | None = None):
        self._token_source = token or storage_token
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, str]:
        with self._lock:
            now = time.monotonic()
            if self._token is None or now - self._token[1] > TOKEN_REUSE_SECONDS:
                self._token = (self._token_source(), now)
            token = self._token[0]
        options = {"bearer_token": token, "use_fabric_endpoint": "true"}
        endpoint = blob_endpoint()
        if endpoint:
            options["azure_storage_endpoint"] = endpoint
        return options


def blob_endpoint() -> str | None:
    """``FABGEN_ONELAKE_URL`` as delta-rs's Blob endpoint (None: OneLake's own, from the URI)."""
    url = (os.environ.get(URL_ENV) or "").strip().rstrip("/")
    if not url or url == DEFAULT_ACCOUNT_URL:
        return None
    return url.replace(".dfs.", ".blob.")


def storage_token() -> str:
    """``FABGEN_ONELAKE_TOKEN``, else a storage token from the deploy's credential."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token
    from .deploy import DeployError, resolve_credential

    saved = os.environ.pop("FABGEN_FABRIC_TOKEN", None)  # a token for Fabric's API, not for storage
    try:
        credential = resolve_credential()
        return str(credential.get_token(STORAGE_SCOPE).token)
    except DeployError as exc:
        raise OneLakeReadError(f"no credential for OneLake: {exc}; or set {TOKEN_ENV}") from exc
    except Exception as exc:  # azure-identity's errors: not logged in, refused
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OneLakeReadError(
            f"no token for OneLake ({STORAGE_SCOPE}): {first}; log in with `az login`, set a service "
            f"principal (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET) or {TOKEN_ENV}"
        ) from exc
    finally:
        if saved is not None:
            os.environ["FABGEN_FABRIC_TOKEN"] = saved


# --------------------------------------------------------------------------- files


class OneLakeFileStore:
    """A read-only :class:`~fabgen_runtime.protocol.store.FileStore` over delta-rs's object store.

    URIs are ``abfss://`` URIs under ``root`` (a lakehouse's ``Files``). Listing follows the Blob
    API: a folder exists when a file is under it. Writing raises: the ``--env`` reads never write.
    """

    def __init__(self, root: str, storage_options: StorageOptions):
        import pyarrow.fs as pa_fs
        from deltalake.fs import DeltaStorageHandler

        self.root = root.rstrip("/")
        self._fs = pa_fs.PyFileSystem(DeltaStorageHandler(self.root, storage_options()))

    def _relative(self, uri: str) -> str:
        uri = uri.rstrip("/")
        if uri == self.root:
            return ""
        if not uri.startswith(self.root + "/"):
            raise OSError(f"{uri} is not under {self.root}")
        return uri[len(self.root) + 1 :]

    def _info(self, uri: str) -> Any:
        import pyarrow.fs as pa_fs

        relative = self._relative(uri)
        if not relative:
            return None
        try:
            info = self._fs.get_file_info(relative)
        except OSError as exc:
            raise OSError(f"cannot read {uri}: {first_line(exc)}") from exc
        return None if info.type == pa_fs.FileType.NotFound else info

    def exists(self, uri: str) -> bool:
        """True when a file, or a folder holding one, is at ``uri``."""
        return self._info(uri) is not None or self.is_dir(uri)

    def is_dir(self, uri: str) -> bool:
        """True when some file lies under ``uri``."""
        return bool(self.list(uri))

    def size(self, uri: str) -> int:
        """Length of the file at ``uri``."""
        info = self._info(uri)
        if info is None:
            raise OSError(f"{uri} is not a file")
        return int(info.size)

    def list(self, uri: str) -> list[FileStatus]:
        """Entries directly under ``uri``, by name (empty when there is none)."""
        import pyarrow.fs as pa_fs

        selector = pa_fs.FileSelector(self._relative(uri), allow_not_found=True, recursive=False)
        try:
            infos = self._fs.get_file_info(selector)
        except OSError as exc:
            raise OSError(f"cannot list {uri}: {first_line(exc)}") from exc
        out = {}
        for info in infos:
            name = info.path.rstrip("/").rsplit("/", 1)[-1]
            is_dir = info.type == pa_fs.FileType.Directory
            out[name] = FileStatus(join(uri, name), name, 0 if is_dir else int(info.size or 0), is_dir)
        return sorted(out.values(), key=lambda s: s.name)

    def read_bytes(self, uri: str, limit: int = 16 * 1024 * 1024) -> bytes:
        """Read a small file (manifests, owner records); refuses one over ``limit`` bytes."""
        size = self.size(uri)
        if size > limit:
            raise OSError(f"{uri} has {size} bytes, more than read_bytes allows ({limit})")
        with self._fs.open_input_stream(self._relative(uri)) as stream:
            return bytes(stream.read())

    def sha256(self, uri: str) -> str:
        """SHA-256 (hex) of the file at ``uri``, streamed in chunks."""
        sha = hashlib.sha256()
        with self._fs.open_input_stream(self._relative(uri)) as stream:
            while chunk := stream.read(READ_CHUNK):
                sha.update(chunk)
        return sha.hexdigest()

    def _read_only(self, uri: str) -> None:
        raise OSError(f"{uri}: reading a workspace with --env never writes")

    def mkdirs(self, uri: str) -> None:
        self._read_only(uri)

    def delete(self, uri: str, recursive: bool = False) -> bool:
        self._read_only(uri)
        return False

    def rename(self, src: str, dst: str) -> None:
        self._read_only(src)

    def write_bytes(self, uri: str, data: bytes, overwrite: bool = False) -> None:
        self._read_only(uri)


def first_line(exc: BaseException) -> str:
    """An error's first line (delta-rs may append a Rust backtrace)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- the workspace


@dataclass
class Workspace:
    """Environment E of a project, as its deployed notebooks see it: names, URIs, a connection."""

    env: str
    mapping: EnvironmentMapping
    platform: FabricPlatform
    storage_options: StorageOptions
    project: Project

    def configs(self, configs: list[ExportConfig]) -> list[ExportConfig]:
        """``configs`` with E's workspace and lakehouse names (validated again)."""
        return parse_configs(self.mapping.rows(configs)) if configs else []

    def files_uri(self, workspace: str, lakehouse: str) -> str:
        """``Files`` of a lakehouse named as E names it."""
        from fabgen_runtime import platform as platform_mod

        return platform_mod.files_uri(self.platform, workspace, lakehouse)

    def table_uri(self, workspace: str, lakehouse: str, schema: str, table: str) -> str:
        """A Delta table of a lakehouse named with the project's (dev) names."""
        from fabgen_runtime import platform as platform_mod

        return platform_mod.table_uri(
            self.platform,
            self.mapping.workspace(workspace),
            self.mapping.lakehouse(workspace, lakehouse),
            schema,
            table,
        )

    def file_store(self, root: str) -> OneLakeFileStore:
        """A read-only store of the files under ``root`` (a lakehouse's ``Files``)."""
        return OneLakeFileStore(root, self.storage_options)

    def state_logger(self) -> PythonExportLogger:
        """The config lakehouse's log and watermark tables in E, read with delta-rs (never created)."""
        from fabgen_runtime.engines.python.state import PythonExportLogger

        ref = self.project.settings.config_lakehouse
        mapped = LakehouseRef(
            workspace=self.mapping.workspace(ref.workspace),
            lakehouse=self.mapping.lakehouse(ref.workspace, ref.lakehouse),
        )
        return PythonExportLogger(
            mapped,
            auto_create_tables=False,
            platform=self.platform,
            storage_options=self.storage_options,
            file_store=self.file_store(self.files_uri(mapped.workspace, mapped.lakehouse)),
        )


@contextmanager
def workspace(project: Project, env: str, options: StorageOptions | None = None) -> Iterator[Workspace]:
    """Environment ``env`` of ``project`` (a ConfigError for an unknown one), its item catalog in
    force (ids, lakehouse layouts) while the block runs."""
    from fabgen_runtime import catalog
    from fabgen_runtime.platform import FabricPlatform

    mapping = environment_mapping(project.settings, env)
    previous = catalog.current()
    catalog.configure(mapping.catalog(project.settings, project.configs))
    try:
        yield Workspace(env, mapping, FabricPlatform(), options or StorageOptions(), project)
    finally:
        catalog.configure(previous)
