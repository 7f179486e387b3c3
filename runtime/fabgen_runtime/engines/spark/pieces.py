"""Compress ranges of staged files into joinable pieces, in parallel driver threads, inside the JVM.

A *segment* is either a small ``bytes`` (a CSV header, a tar header) or a :class:`FileRange` of a
staged file. Each segment becomes one piece:

* ``deflate``: raw deflate ending with a sync flush (join them, then add ``FINAL_BLOCK``);
* ``gzip``: a complete gzip member (members concatenate);
* ``zstd``: a complete zstd frame (frames concatenate).

File ranges are compressed by ``java.util.zip.Deflater`` / zstd-jni, driven through py4j from a
thread pool: each Python thread owns a JVM thread (PySpark's pinned thread mode), zlib and zstd
run natively there, and the bytes never cross into Python.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from ...compression import deflate
from ...protocol.store import join
from .fs import COPY_BUFFER, HadoopFS

RANGE_BYTES = 64 * 1024 * 1024  # staged files are cut into ranges this large for parallelism
KINDS = ("deflate", "gzip", "zstd")
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class FileRange:
    """``length`` bytes of the staged file ``uri`` from ``offset``."""

    uri: str
    offset: int
    length: int


Segment = bytes | FileRange


@dataclass(frozen=True)
class Piece:
    """A compressed segment: bytes kept in Python (small) or a staged piece file."""

    data: bytes | None
    uri: str | None
    crc: int  # CRC-32 of the uncompressed segment
    raw_length: int
    size: int  # compressed bytes

    @property
    def source(self) -> str | bytes:
        """What :meth:`HadoopFS.concat` copies for this piece."""
        return self.uri if self.uri is not None else (self.data or b"")


def ranges(uri: str, size: int, chunk: int | None = None) -> list[FileRange]:
    """Cut a file of ``size`` bytes into ranges of at most ``chunk`` bytes (none for an empty file)."""
    chunk = chunk or RANGE_BYTES
    return [FileRange(uri, start, min(chunk, size - start)) for start in range(0, size, chunk)]


def threads() -> int:
    """Driver threads for compression: ``FABGEN_COMPRESS_THREADS`` or the driver's CPU count."""
    configured = os.environ.get("FABGEN_COMPRESS_THREADS")
    return max(1, int(configured)) if configured else max(1, os.cpu_count() or 1)


def _compress_bytes(fs: HadoopFS, kind: str, level: int, data: bytes) -> Piece:
    if kind == "deflate":
        out = deflate.deflate_piece(data, level)
    elif kind == "gzip":
        out = deflate.gzip_member(data, level)
    else:
        out = bytes(fs.jvm.com.github.luben.zstd.Zstd.compress(bytearray(data), level))
    return Piece(out, None, zlib.crc32(data), len(data), len(out))


def _compress_range(fs: HadoopFS, kind: str, level: int, segment: FileRange, dest: str) -> Piece:
    jvm = fs.jvm
    crc = jvm.java.util.zip.CRC32()
    with fs.open(segment.uri) as stream, fs.create(dest) as out:
        if segment.offset:
            stream.seek(segment.offset)
        checked = jvm.java.util.zip.CheckedInputStream(fs.bounded(stream, segment.length), crc)
        if kind == "zstd":
            compressor = jvm.com.github.luben.zstd.ZstdOutputStream(out, level)
            jvm.org.apache.hadoop.io.IOUtils.copyBytes(checked, compressor, COPY_BUFFER, False)
            compressor.flush()
            compressor.close()  # ends the frame (and closes ``out``; closing twice is harmless)
        else:
            deflater = jvm.java.util.zip.Deflater(level, True)
            try:
                if kind == "gzip":
                    out.write(bytearray(deflate.gzip_header()))
                stream_out = jvm.java.util.zip.DeflaterOutputStream(out, deflater, COPY_BUFFER, True)
                jvm.org.apache.hadoop.io.IOUtils.copyBytes(checked, stream_out, COPY_BUFFER, False)
                if kind == "gzip":
                    stream_out.finish()
                    out.write(bytearray(deflate.gzip_trailer(crc.getValue(), segment.length)))
                else:
                    stream_out.flush()  # sync flush: byte aligned, not final
            finally:
                deflater.end()
    return Piece(None, dest, int(crc.getValue()), segment.length, fs.size(dest))


def compress_segments(
    fs: HadoopFS,
    kind: str,
    level: int,
    segments: Sequence[Segment],
    workdir: str,
    workers: int | None = None,
) -> list[Piece]:
    """Compress every segment into a piece (file ranges in parallel); pieces keep segment order."""
    if kind not in KINDS:
        raise ValueError(f"unknown piece kind {kind!r}")

    def work(index_segment: tuple[int, Segment]) -> Piece:
        index, segment = index_segment
        if isinstance(segment, FileRange):
            return _compress_range(fs, kind, level, segment, join(workdir, f"piece-{index:06d}"))
        return _compress_bytes(fs, kind, level, segment)

    return run_parallel(work, list(enumerate(segments)), workers)


def run_parallel(func: Callable[[T], R], items: list[T], workers: int | None = None) -> list[R]:
    """``[func(item) for item in items]`` on a thread pool, results in order, first error raised."""
    workers = min(workers or threads(), max(1, len(items)))
    if workers == 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fabgen-compress") as pool:
        return list(pool.map(func, items))


def merge_bytes(segments: Sequence[Segment]) -> list[Segment]:
    """Join neighbouring ``bytes`` segments so small headers do not each become a piece."""
    out: list[Segment] = []
    for segment in segments:
        if isinstance(segment, FileRange) and segment.length == 0:
            continue
        if isinstance(segment, bytes) and out and isinstance(out[-1], bytes):
            out[-1] = out[-1] + segment
        else:
            out.append(segment)
    return [s for s in out if not (isinstance(s, bytes) and not s)]
