"""The Python engine on Fabric: OneLake files through ``notebookutils.fs``, Delta tables through delta-rs.

A Fabric Python notebook has no Spark, so no Hadoop FileSystem: the run protocol's files
(staging, journals, published files, triggers) go through :class:`NotebookFileStore`, a
:class:`~fabgen_runtime.protocol.store.FileStore` over ``notebookutils.fs``, and the state and
source tables through delta-rs with :func:`fabric_storage_options` (a bearer token for OneLake,
``use_fabric_endpoint``), the form Microsoft's and delta-rs's examples use for OneLake
(docs/python-engine.md). The engine's writer encodes into a local scratch folder and uploads each
finished file into the run's staging folder (:meth:`NotebookFileStore.upload`); publishing then
renames inside OneLake, as on Spark.

``notebookutils.fs`` as Microsoft documents it (learn.microsoft.com/fabric/data-engineering/
notebook-utilities, "File system utilities"): ``ls``, ``exists``, ``mkdirs``, ``cp`` ("possibly
across FileSystems"), ``mv(from, to, createPath, overwrite)``, ``rm(path, recurse)``,
``put(file, content, overwrite)`` (text), ``head(file, maxBytes)`` (text). Text is all the protocol
writes through it (JSON journals and manifests, trigger files); to hash a published file
(:meth:`NotebookFileStore.sha256`) it copies the file to local disk with ``cp``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from ...errors import PlatformError
from ...protocol.store import FileStatus, file_sha256, join

log = logging.getLogger(__name__)

STORAGE_AUDIENCE = "storage"  # notebookutils.credentials.getToken's key for OneLake / ADLS
TOKEN_REUSE_SECONDS = 15 * 60  # Entra tokens live about an hour; ask again well before that

StorageOptions = Mapping[str, str] | Callable[[], Mapping[str, str]] | None


@runtime_checkable
class Uploads(Protocol):
    """A file store that can receive a finished local file (the writer's scratch output)."""

    def upload(self, local_path: str, uri: str) -> None:
        """Copy ``local_path`` to ``uri``."""
        ...


def notebookutils_module() -> Any:
    """``notebookutils`` (Fabric only); a clear error elsewhere."""
    try:
        import notebookutils
    except ImportError:
        raise PlatformError(
            "notebookutils is not importable: OneLake is reachable from Fabric notebooks only"
        ) from None
    return notebookutils


class FabricStorageOptions:
    """delta-rs ``storage_options`` for OneLake with a fresh bearer token (called at each use)."""

    def __init__(
        self, get_token: Callable[[str], str] | None = None, reuse_seconds: float = TOKEN_REUSE_SECONDS
    ):
        self._get_token = get_token or notebookutils_module().credentials.getToken
        self._reuse = reuse_seconds
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, str]:
        with self._lock:
            now = time.monotonic()
            if self._token is None or now - self._token[1] > self._reuse:
                self._token = (self._get_token(STORAGE_AUDIENCE), now)
            token = self._token[0]
        return {"bearer_token": token, "use_fabric_endpoint": "true"}


def resolve(options: StorageOptions) -> dict[str, str] | None:
    """The ``storage_options`` dict to hand delta-rs now (``options`` may be a callable)."""
    if options is None:
        return None
    if callable(options):
        return dict(options())
    return dict(options)


class NotebookFileStore:
    """:class:`~fabgen_runtime.protocol.store.FileStore` over ``notebookutils.fs`` (OneLake URIs).

    Every failure surfaces as :class:`OSError` naming the call, as the other stores' do.
    """

    def __init__(self, fs: Any = None):
        self._fs = fs if fs is not None else notebookutils_module().fs

    def _call(self, what: str, uri: str, func: Callable[[], Any]) -> Any:
        try:
            return func()
        except (
            Exception
        ) as exc:  # notebookutils raises its own (Java-backed) errors: OSError, naming the call
            raise OSError(f"notebookutils.fs.{what}({uri}) failed: {exc}") from exc

    def _entry(self, uri: str) -> FileStatus | None:
        parent, _, name = uri.rstrip("/").rpartition("/")
        return next((s for s in self.list(parent) if s.name == name), None)

    def exists(self, uri: str) -> bool:
        """True when a file or directory exists at ``uri``."""
        return bool(self._call("exists", uri, lambda: self._fs.exists(uri)))

    def is_dir(self, uri: str) -> bool:
        """True when ``uri`` is an existing directory."""
        entry = self._entry(uri)
        return entry is not None and entry.is_dir

    def size(self, uri: str) -> int:
        """Length of the file at ``uri``."""
        entry = self._entry(uri)
        if entry is None or entry.is_dir:
            raise OSError(f"{uri} is not a file")
        return entry.size

    def list(self, uri: str) -> list[FileStatus]:
        """Entries directly under ``uri``, by name (empty when it does not exist)."""
        if not self.exists(uri):
            return []
        entries = self._call("ls", uri, lambda: self._fs.ls(uri))
        out = [
            FileStatus(
                join(uri, e.name.rstrip("/")),
                e.name.rstrip("/"),
                0 if e.isDir else int(e.size),
                bool(e.isDir),
            )
            for e in entries
        ]
        return sorted(out, key=lambda s: s.name)

    def mkdirs(self, uri: str) -> None:
        """Create a directory and its parents."""
        self._call("mkdirs", uri, lambda: self._fs.mkdirs(uri))

    def delete(self, uri: str, recursive: bool = False) -> bool:
        """Delete ``uri``; True when something was deleted."""
        if not self.exists(uri):
            return False
        self._call("rm", uri, lambda: self._fs.rm(uri, recursive))
        return True

    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst``; refuses when ``dst`` exists (its parent is created)."""
        if self.exists(dst):
            raise OSError(f"cannot move {src} to {dst}: the destination exists")
        moved = self._call("mv", src, lambda: self._fs.mv(src, dst, True, False))
        if moved is False:
            raise OSError(f"notebookutils.fs.mv({src}, {dst}) returned False")

    def write_bytes(self, uri: str, data: bytes, overwrite: bool = False) -> None:
        """Write a small UTF-8 file (``overwrite=False`` refuses an existing one)."""
        if not overwrite and self.exists(uri):
            raise OSError(f"{uri} exists")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise OSError(f"{uri}: notebookutils.fs.put writes text, and these bytes are not UTF-8") from exc
        self._call("put", uri, lambda: self._fs.put(uri, text, overwrite))

    def read_bytes(self, uri: str, limit: int = 16 * 1024 * 1024) -> bytes:
        """Read a small UTF-8 file (journals, manifests)."""
        text = self._call("head", uri, lambda: self._fs.head(uri, limit))
        return str(text).encode("utf-8")

    def sha256(self, uri: str) -> str:
        """SHA-256 (hex) of the file at ``uri``: copied to a local temporary file (``cp`` to the
        ``file:`` scheme; ``notebookutils.fs`` reads only text), hashed in chunks, then removed."""
        with tempfile.TemporaryDirectory(prefix="fabgen-sha256-") as scratch:
            local = os.path.join(scratch, "file")
            copied = self._call("cp", uri, lambda: self._fs.cp(uri, f"file:{local}"))
            if copied is False:
                raise OSError(f"notebookutils.fs.cp({uri}, file:{local}) returned False")
            return file_sha256(local)

    def upload(self, local_path: str, uri: str) -> None:
        """Copy a finished local file to ``uri`` (``cp`` from the ``file:`` scheme, its parent created)."""
        parent = uri.rstrip("/").rpartition("/")[0]
        self.mkdirs(parent)
        copied = self._call("cp", uri, lambda: self._fs.cp(f"file:{local_path}", uri))
        if copied is False:
            raise OSError(f"notebookutils.fs.cp(file:{local_path}, {uri}) returned False")
