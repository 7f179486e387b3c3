"""A small file-system helper over Hadoop's FileSystem API, through Spark's JVM.

Works on local paths and on ``abfss://`` (OneLake) alike. Bytes that make up data files are
copied inside the JVM (:meth:`HadoopFS.concat`, :meth:`HadoopFS.copy_range`) and never pass
through Python; only small byte strings (headers, archive directories) are sent from Python.

Failures surface as :class:`OSError` carrying the JVM's message; callers wrap them in their own
error (``WriteError``, ``PublishError``, ``StateError``) with the export's key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from ...protocol.store import FileStatus, join
from .jvm import gateway

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

COPY_BUFFER = 4 * 1024 * 1024
T = TypeVar("T")


def _jvm_errors(func: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        from py4j.protocol import Py4JError

        try:
            return func(*args, **kwargs)
        except Py4JError as exc:
            java = getattr(exc, "java_exception", None)
            detail = java.toString() if java is not None else str(exc)
            raise OSError(f"{func.__name__} failed: {detail}") from exc

    return wrapper


class HadoopFS:
    """File operations on URIs through ``org.apache.hadoop.fs.FileSystem``."""

    def __init__(self, spark: SparkSession):
        self.spark = spark
        self.jvm: Any = gateway(spark)
        self.conf = spark._jsc.hadoopConfiguration()
        self.digests: dict[str, str] = {}  # SHA-256 (hex) of files written by concat, by uri

    # ------------------------------------------------------------------ basics
    def path(self, uri: str) -> Any:
        """The JVM ``Path`` of a URI."""
        return self.jvm.org.apache.hadoop.fs.Path(uri)

    def _fs(self, jpath: Any) -> Any:
        fs = jpath.getFileSystem(self.conf)
        if fs.getScheme() == "file" and hasattr(fs, "getRawFileSystem"):
            # The local file system's checksum wrapper leaves ".crc" files beside every output.
            return fs.getRawFileSystem()
        return fs

    @_jvm_errors
    def exists(self, uri: str) -> bool:
        """True when a file or directory exists at ``uri``."""
        jpath = self.path(uri)
        return bool(self._fs(jpath).exists(jpath))

    @_jvm_errors
    def is_dir(self, uri: str) -> bool:
        """True when ``uri`` is an existing directory."""
        jpath = self.path(uri)
        fs = self._fs(jpath)
        return bool(fs.exists(jpath) and fs.getFileStatus(jpath).isDirectory())

    @_jvm_errors
    def size(self, uri: str) -> int:
        """Length of the file at ``uri`` in bytes."""
        jpath = self.path(uri)
        return int(self._fs(jpath).getFileStatus(jpath).getLen())

    @_jvm_errors
    def list(self, uri: str) -> list[FileStatus]:
        """Entries directly under the directory ``uri`` (empty when it does not exist)."""
        jpath = self.path(uri)
        fs = self._fs(jpath)
        if not fs.exists(jpath):
            return []
        out = []
        for status in fs.listStatus(jpath):
            child = status.getPath()
            out.append(
                FileStatus(
                    join(uri, child.getName()),
                    child.getName(),
                    int(status.getLen()),
                    bool(status.isDirectory()),
                )
            )
        return sorted(out, key=lambda s: s.name)

    @_jvm_errors
    def mkdirs(self, uri: str) -> None:
        """Create the directory ``uri`` and its parents."""
        jpath = self.path(uri)
        if not self._fs(jpath).mkdirs(jpath):
            raise OSError(f"could not create directory {uri}")

    @_jvm_errors
    def delete(self, uri: str, recursive: bool = False) -> bool:
        """Delete ``uri``; True when something was deleted."""
        jpath = self.path(uri)
        fs = self._fs(jpath)
        return bool(fs.exists(jpath) and fs.delete(jpath, recursive))

    @_jvm_errors
    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst`` (same file system). ``dst`` must not exist; its parent is created."""
        jsrc, jdst = self.path(src), self.path(dst)
        fs = self._fs(jsrc)
        if fs.exists(jdst):
            raise OSError(f"cannot move {src} to {dst}: the destination exists")
        fs.mkdirs(jdst.getParent())
        if not fs.rename(jsrc, jdst):
            raise OSError(f"could not move {src} to {dst}")

    @_jvm_errors
    def create_empty(self, uri: str, overwrite: bool = False) -> None:
        """Create an empty file at ``uri``."""
        jpath = self.path(uri)
        self._fs(jpath).create(jpath, overwrite).close()

    @_jvm_errors
    def write_bytes(self, uri: str, data: bytes, overwrite: bool = False) -> None:
        """Write a small byte string as the file ``uri``."""
        jpath = self.path(uri)
        out = self._fs(jpath).create(jpath, overwrite)
        try:
            if data:
                out.write(bytearray(data))
        finally:
            out.close()

    @_jvm_errors
    def read_bytes(self, uri: str, limit: int = 16 * 1024 * 1024) -> bytes:
        """Read a small file (headers, markers) into Python; refuses files over ``limit`` bytes."""
        size = self.size(uri)
        if size > limit:
            raise OSError(f"{uri} has {size} bytes, more than read_bytes allows ({limit})")
        jpath = self.path(uri)
        stream = self._fs(jpath).open(jpath)
        try:
            buffer = self.jvm.java.io.ByteArrayOutputStream()
            self.jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, buffer, COPY_BUFFER, False)
            return bytes(buffer.toByteArray())
        finally:
            stream.close()

    # ------------------------------------------------------------------ streams
    @contextmanager
    def create(self, uri: str, overwrite: bool = False) -> Iterator[Any]:
        """A JVM output stream for a new file at ``uri``, closed on exit."""
        jpath = self.path(uri)
        out = self._fs(jpath).create(jpath, overwrite)
        try:
            yield out
        finally:
            out.close()

    @contextmanager
    def open(self, uri: str) -> Iterator[Any]:
        """A JVM input stream of ``uri``, closed on exit."""
        jpath = self.path(uri)
        stream = self._fs(jpath).open(jpath)
        try:
            yield stream
        finally:
            stream.close()

    def bounded(self, stream: Any, length: int) -> Any:
        """A JVM stream that yields at most ``length`` bytes of ``stream``.

        (Hadoop's ``IOUtils.copyBytes(in, out, long count, close)`` cannot be used from Python:
        py4j passes a small Python int as ``int`` and picks the ``int buffSize`` overload.)
        """
        return self.jvm.org.apache.commons.io.input.BoundedInputStream(stream, length)

    def copy_range(self, uri: str, out: Any, offset: int = 0, length: int | None = None) -> None:
        """Copy ``length`` bytes of ``uri`` from ``offset`` (default: all) into the JVM stream ``out``."""
        with self.open(uri) as stream:
            if offset:
                stream.seek(offset)
            source = stream if length is None else self.bounded(stream, length)
            self.jvm.org.apache.hadoop.io.IOUtils.copyBytes(source, out, COPY_BUFFER, False)

    @_jvm_errors
    def concat(self, dest: str, pieces: Iterable[str | bytes], overwrite: bool = False) -> int:
        """Write ``dest`` as the pieces in order: file URIs are copied JVM side, bytes sent as is.

        The SHA-256 of ``dest`` is computed JVM side while the bytes are copied (a
        ``DigestOutputStream``) and kept in :attr:`digests`. Returns the size of ``dest``.
        """
        digest = self.jvm.java.security.MessageDigest.getInstance("SHA-256")
        with self.create(dest, overwrite) as raw:
            out = self.jvm.java.security.DigestOutputStream(raw, digest)
            for piece in pieces:
                if isinstance(piece, (bytes, bytearray)):
                    if piece:
                        out.write(bytearray(piece))
                else:
                    self.copy_range(piece, out)
            out.flush()
        self.digests[dest] = bytes(digest.digest()).hex()
        return self.size(dest)

    @_jvm_errors
    def sha256(self, uri: str) -> str:
        """SHA-256 (hex) of a file: the one :meth:`concat` computed, else hashed JVM side in one call."""
        known = self.digests.get(uri)
        if known is not None:
            return known
        with self.open(uri) as stream:
            return str(self.jvm.org.apache.commons.codec.digest.DigestUtils.sha256Hex(stream))
