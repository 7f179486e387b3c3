"""The ``FileStore`` port and its pure-Python local adapter.

The protocol touches files only through these methods. ``fabgen_runtime.engines.spark.fs.HadoopFS`` (Spark's
JVM, local paths and ``abfss://`` alike) and :class:`LocalFileStore` (``os``/``pathlib``, local
paths only) implement it; both raise :class:`OSError` on failure.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["FileStatus", "FileStore", "LocalFileStore", "file_sha256", "join"]

HASH_CHUNK = 1024 * 1024  # bytes read at a time when hashing a local file


@dataclass(frozen=True)
class FileStatus:
    """One entry of a directory listing."""

    uri: str
    name: str
    size: int
    is_dir: bool


def join(base: str, *names: str) -> str:
    """``base/name/...`` for URIs and local paths (names must already be checked)."""
    return posixpath.join(base.rstrip("/"), *(n.strip("/") for n in names if n))


class FileStore(Protocol):
    """The file operations the run protocol needs."""

    def exists(self, uri: str) -> bool:
        """True when a file or directory exists at ``uri``."""
        ...

    def is_dir(self, uri: str) -> bool:
        """True when ``uri`` is an existing directory."""
        ...

    def size(self, uri: str) -> int:
        """Length of the file at ``uri``."""
        ...

    def list(self, uri: str) -> list[FileStatus]:
        """Entries directly under ``uri``, by name (empty when it does not exist)."""
        ...

    def mkdirs(self, uri: str) -> None:
        """Create a directory and its parents."""
        ...

    def delete(self, uri: str, recursive: bool = False) -> bool:
        """Delete ``uri``; True when something was deleted."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst``; ``dst`` must not exist (its parent is created)."""
        ...

    def write_bytes(self, uri: str, data: bytes, overwrite: bool = False) -> None:
        """Write a small file."""
        ...

    def read_bytes(self, uri: str, limit: int = 16 * 1024 * 1024) -> bytes:
        """Read a small file."""
        ...

    def sha256(self, uri: str) -> str:
        """SHA-256 (hex) of the file at ``uri``, of any size."""
        ...


class LocalFileStore:
    """:class:`FileStore` over the local file system (``os``/``pathlib``); URIs are plain paths."""

    def exists(self, uri: str) -> bool:
        """True when a file or directory exists at ``uri``."""
        return os.path.lexists(uri)

    def is_dir(self, uri: str) -> bool:
        """True when ``uri`` is an existing directory."""
        return os.path.isdir(uri)

    def size(self, uri: str) -> int:
        """Length of the file at ``uri``."""
        return os.stat(uri).st_size

    def list(self, uri: str) -> list[FileStatus]:
        """Entries directly under ``uri``, by name (empty when it does not exist)."""
        if not os.path.isdir(uri):
            return []
        out = []
        for entry in os.scandir(uri):
            is_dir = entry.is_dir(follow_symlinks=False)
            size = 0 if is_dir else entry.stat(follow_symlinks=False).st_size
            out.append(FileStatus(join(uri, entry.name), entry.name, size, is_dir))
        return sorted(out, key=lambda s: s.name)

    def mkdirs(self, uri: str) -> None:
        """Create a directory and its parents."""
        Path(uri).mkdir(parents=True, exist_ok=True)

    def delete(self, uri: str, recursive: bool = False) -> bool:
        """Delete ``uri``; True when something was deleted."""
        path = Path(uri)
        if not os.path.lexists(path):
            return False
        if path.is_dir() and not path.is_symlink():
            if recursive:
                for child in path.iterdir():
                    self.delete(str(child), recursive=True)
            path.rmdir()
        else:
            path.unlink()
        return True

    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst`` in one step; refuses when ``dst`` exists (its parent is created).

        Files move with ``renameat2(RENAME_NOREPLACE)``: atomic and never overwriting, so a process
        killed during the move leaves the file under one of its two names, as an OneLake rename does.
        Where the kernel or file system lacks it, a hard link then an unlink (never overwrites, but a
        kill between the two leaves both names, which recovery then cannot tell from a foreign file).
        """
        if os.path.lexists(dst):
            raise OSError(f"cannot move {src} to {dst}: the destination exists")
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        if os.path.isdir(src):
            os.rename(src, dst)
        elif not _rename_noreplace(src, dst):
            os.link(src, dst)  # fails if dst appeared meanwhile: never overwrites
            os.unlink(src)

    def write_bytes(self, uri: str, data: bytes, overwrite: bool = False) -> None:
        """Write a small file (``overwrite=False`` refuses an existing one)."""
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        with open(uri, "wb" if overwrite else "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())

    def read_bytes(self, uri: str, limit: int = 16 * 1024 * 1024) -> bytes:
        """Read a small file; refuses files over ``limit`` bytes."""
        size = self.size(uri)
        if size > limit:
            raise OSError(f"{uri} has {size} bytes, more than read_bytes allows ({limit})")
        return Path(uri).read_bytes()

    def sha256(self, uri: str) -> str:
        """SHA-256 (hex) of the file at ``uri``, read in chunks (never whole into memory)."""
        return file_sha256(uri)


def file_sha256(path: str) -> str:
    """SHA-256 (hex) of a local file, read :data:`HASH_CHUNK` bytes at a time."""
    sha = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(HASH_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """glibc's ``renameat2`` (looked up once per process), or None where the C library lacks it."""
    try:
        call: Callable[..., int] = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    return call


def _rename_noreplace(src: str, dst: str) -> bool:
    """``renameat2(src, dst, RENAME_NOREPLACE)`` (Linux, glibc >= 2.28): True when done, False when
    this system lacks it; raises ``OSError`` when it refuses (``dst`` exists: ``EEXIST``)."""
    call = _renameat2()
    if call is None:
        return False
    if call(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, f"cannot move {src} to {dst}: {os.strerror(code)}")
