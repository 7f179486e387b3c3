"""Where the Python engine's bytes go: plain files, compressed streams, zip and tar archives.

Every sink is written chunk by chunk (memory stays bounded by one batch): gzip, zlib/zipfile and
tarfile-compatible headers from the standard library, zstd and brotli from what a Fabric Python
notebook has (:mod:`.compressors`: pyarrow's zstd; ``brotli``, else ``brotlicffi``, else pyarrow).
Files are created exclusively (``x`` mode): nothing in staging is ever overwritten.

* gzip: one gzip member per encoded batch (mtime 0, no file name: the same bytes for the same
  rows), compressed on a thread pool and written in order (:class:`Ordered`): RFC 1952 readers
  (``gzip``, pandas, ``gzip -t``) read the members as one stream, as they read Spark's pieces.
* zstd: the same with one zstd frame per batch (frames concatenate); a zstd stream (a tar) is
  cut into frames of :data:`.compressors.FRAME_BYTES`.
* brotli: one stream (brotli streams cannot be joined).
* zip / zipdeflate: ``zipfile`` with deflate at the level, one entry per data file, entries
  stamped with the run's process date, sizes in Zip64 fields (the size is not known before the
  entry is streamed; every common reader accepts it).
* tar (split parts with gzip/zstd/brotli): the same PAX headers, padding and end blocks as the
  Spark engine (:mod:`fabgen_runtime.compression.archive`), so the uncompressed tar is identical.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import os
import shutil
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from queue import Full, Queue
from typing import IO, Any, Protocol, TypeVar

from ...compression import archive
from . import compressors

COPY_CHUNK = 4 * 1024 * 1024
T = TypeVar("T")


class Stream(Protocol):
    """A byte sink that is written in order, then closed."""

    def write(self, data: bytes) -> Any: ...

    def close(self) -> None: ...


Digests = dict[str, tuple[int, str]]  # path -> (size, sha256 hex) of a finished file


class Hashed:
    """A new file written in order whose size and SHA-256 are taken as its bytes go by (no second
    read); closing it records them in ``digests`` under its path."""

    def __init__(self, path: str, digests: Digests):
        self.raw = open(path, "xb")  # noqa: SIM115 - closed in close()
        self.path, self.digests = path, digests
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.raw.flush()

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def close(self) -> None:
        if not self.raw.closed:
            self.raw.close()
            self.digests[self.path] = (self.size, self.sha.hexdigest())


def stream(path: str, codec: str, level: int | None, export: str, digests: Digests | None = None) -> Stream:
    """A new file at ``path``: plain (``none``), or one gzip / zstd / brotli stream. With
    ``digests``, the file's size and SHA-256 are recorded there when it is closed."""
    if codec == "brotli":
        compressors.check_brotli(level, export)  # before the file exists
    os.makedirs(os.path.dirname(path), exist_ok=True)
    raw: IO[bytes] | Hashed = (
        Hashed(path, digests) if digests is not None else open(path, "xb")  # noqa: SIM115 - closed by the stream
    )
    if codec == "none":
        return raw
    if codec == "gzip":
        return compressors.Layered(
            gzip.GzipFile(filename="", mode="wb", compresslevel=level or 6, fileobj=raw, mtime=0), raw
        )
    if codec == "zstd":
        return compressors.ZstdFrames(raw, level)
    if codec == "brotli":
        return compressors.brotli_stream(raw, level, export)
    raw.close()
    os.unlink(path)
    raise ValueError(f"{codec} is not a stream codec")


#: chunks encoded (and compressed) ahead of the writer, per worker
AHEAD_PER_WORKER = 2


def workers() -> int:
    """Threads that encode and compress batches (the machine's cores; zlib and Arrow release the GIL)."""
    return max(1, os.cpu_count() or 1)


def member_packer(codec: str, level: int | None) -> Callable[[bytes], bytes] | None:
    """A function compressing one chunk into a self-contained member of ``codec`` (a gzip member,
    a zstd frame), or None when the codec's stream cannot be cut into members (brotli: written
    through a stream instead)."""
    if codec == "gzip":
        chosen = level or 6
        return lambda data: gzip.compress(data, compresslevel=chosen, mtime=0)
    if codec == "zstd":
        return compressors.frame_packer(level)
    return None


class Ordered:
    """Transform chunks on a thread pool and write the results to ``sink`` in submission order.

    At most ``AHEAD_PER_WORKER`` chunks per worker are in flight, so memory stays bounded; the
    first failure is raised by the next :meth:`submit` or by :meth:`close`.
    """

    def __init__(self, sink: Stream, threads: int | None = None):
        self.sink = sink
        self.threads = threads or workers()
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="fabgen-encode")
        self.pending: collections.deque[Future[bytes]] = collections.deque()

    def submit(self, transform: Callable[..., bytes], *args: Any) -> None:
        """Run ``transform(*args)`` on the pool; its bytes go to the sink after the earlier ones'."""
        self.pending.append(self.pool.submit(transform, *args))
        while len(self.pending) > self.threads * AHEAD_PER_WORKER:
            self.sink.write(self.pending.popleft().result())

    def drain(self) -> None:
        """Write every submitted chunk (in order)."""
        while self.pending:
            self.sink.write(self.pending.popleft().result())

    def close(self, write: bool = True) -> None:
        """Drain (``write``) or drop what is in flight, then stop the pool; the sink stays open."""
        try:
            if write:
                self.drain()
        finally:
            for future in self.pending:
                future.cancel()
            self.pending.clear()
            self.pool.shutdown(wait=True)


#: record batches read ahead of the writer by :func:`prefetched`
PREFETCH_BATCHES = 4
_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetched(items: Iterator[T], depth: int = PREFETCH_BATCHES) -> Iterator[T]:
    """``items``, produced by a background thread up to ``depth`` ahead (reading and decoding the
    source overlaps writing, and both release the GIL); an error in the producer is raised here,
    and closing the generator stops the producer."""
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failure(exc))

    thread = threading.Thread(target=produce, name="fabgen-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join(timeout=60)


class ZipSink:
    """A zip archive written entry by entry (deflate at ``level``)."""

    def __init__(self, path: str, level: int, modified: datetime):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.archive = zipfile.ZipFile(path, "x", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=level)
        self.modified = modified

    def entry(self, name: str) -> IO[bytes]:
        """A writer for a new entry (close it before the next)."""
        info = zipfile.ZipInfo(name, date_time=self.modified.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o100644 << 16
        return self.archive.open(info, "w", force_zip64=True)

    def close(self) -> None:
        self.archive.close()


def write_tar(dest: Stream, members: Sequence[tuple[str, str]], modified: datetime) -> None:
    """Stream a tar of ``(name, plain file)`` members into ``dest`` (closed at the end)."""
    try:
        for name, path in members:
            size = os.path.getsize(path)
            dest.write(archive.tar_header(name, size, modified))
            with open(path, "rb") as source:
                while chunk := source.read(COPY_CHUNK):
                    dest.write(chunk)
            dest.write(archive.tar_padding(size))
        dest.write(archive.tar_end())
    finally:
        dest.close()


def digest(path: str) -> tuple[int, str]:
    """``(size, sha256 hex)`` of a finished file, read back (for the files not written through
    :class:`Hashed`: zip)."""
    sha = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(COPY_CHUNK):
            sha.update(chunk)
    return os.path.getsize(path), sha.hexdigest()


def remove_tree(path: str) -> None:
    """Remove a scratch folder inside staging (the plain parts a tar was built from)."""
    shutil.rmtree(path, ignore_errors=False)
