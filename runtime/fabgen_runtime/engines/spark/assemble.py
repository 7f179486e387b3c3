"""Join staged pieces into the files consumers receive: plain files, compressed streams, zip and tar.

Inputs are *sources* in order: small ``bytes`` (a CSV header, tar headers) and :class:`Part` files
written by Spark into staging. Outputs are written into staging too; :mod:`fabgen_runtime.publish`
moves them into place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...compression import archive, deflate, import_optional
from ...protocol.store import join
from . import pieces
from .fs import HadoopFS


@dataclass(frozen=True)
class Part:
    """A file Spark wrote into staging."""

    uri: str
    size: int


Source = bytes | Part
_READ_CHUNK = 4 * 1024 * 1024


def size_of(sources: Sequence[Source]) -> int:
    """Uncompressed bytes of a list of sources."""
    return sum(len(s) if isinstance(s, bytes) else s.size for s in sources)


def _segments(sources: Sequence[Source], chunk: int | None = None) -> list[pieces.Segment]:
    chunk = chunk or pieces.RANGE_BYTES
    out: list[pieces.Segment] = []
    for source in sources:
        if isinstance(source, bytes):
            out.append(source)
        else:
            out.extend(pieces.ranges(source.uri, source.size, chunk))
    return pieces.merge_bytes(out)


def write_plain(fs: HadoopFS, dest: str, sources: Sequence[Source]) -> int:
    """``dest`` = the sources concatenated (bytes copied JVM side). Returns its size."""
    return fs.concat(dest, [s if isinstance(s, bytes) else s.uri for s in sources])


def write_stream(
    fs: HadoopFS, kind: str, level: int, dest: str, sources: Sequence[Source], workdir: str
) -> int:
    """``dest`` = the sources as one gzip (``kind="gzip"``) or zstd stream of joined members/frames."""
    segments = _segments(sources) or [b""]  # an empty output is still one valid (empty) member
    done = pieces.compress_segments(fs, kind, level, segments, workdir)
    return fs.concat(dest, [p.source for p in done])


def write_zip(
    fs: HadoopFS,
    level: int,
    dest: str,
    entries: Sequence[tuple[str, Sequence[Source]]],
    workdir: str,
    modified: datetime,
    force_zip64: bool = False,
) -> int:
    """``dest`` = a zip archive with one deflated entry per ``(name, sources)``, Zip64 when needed."""
    segments = [_segments(sources) for _name, sources in entries]
    flat = [segment for entry in segments for segment in entry]
    done = pieces.compress_segments(fs, "deflate", level, flat, workdir)
    out: list[str | bytes] = []
    directory: list[archive.ZipEntry] = []
    offset, position = 0, 0
    for (name, _sources), entry_segments in zip(entries, segments, strict=True):
        entry_pieces = done[position : position + len(entry_segments)]
        position += len(entry_segments)
        crc, length = deflate.combine_all((p.crc, p.raw_length) for p in entry_pieces)
        compressed = sum(p.size for p in entry_pieces) + len(deflate.FINAL_BLOCK)
        entry = archive.ZipEntry(name, crc, length, compressed, offset, modified)
        header = archive.local_header(entry, force_zip64)
        out.append(header)
        out.extend(p.source for p in entry_pieces)
        out.append(deflate.FINAL_BLOCK)
        directory.append(entry)
        offset += len(header) + compressed
    out.append(archive.central_directory(directory, offset, force_zip64))
    return fs.concat(dest, _merge_small(out))


def tar_sources(entries: Sequence[tuple[str, Sequence[Source]]], modified: datetime) -> list[Source]:
    """The sources of a tar archive holding one member per ``(name, sources)``."""
    out: list[Source] = []
    for name, sources in entries:
        length = size_of(sources)
        out.append(archive.tar_header(name, length, modified))
        out.extend(sources)
        out.append(archive.tar_padding(length))
    out.append(archive.tar_end())
    return [s for s in out if not (isinstance(s, bytes) and not s)]


def write_brotli(
    fs: HadoopFS, level: int, dest: str, sources: Sequence[Source], export: str | None = None
) -> int:
    """``dest`` = the sources as one brotli stream (brotli streams do not join, so this is sequential).

    The compressed bytes pass through Python, so their SHA-256 is taken on the way (into
    ``fs.digests``, as :meth:`HadoopFS.concat` does): the manifest needs no second read."""
    brotli = import_optional("brotli", "brotli", export)
    compressor = brotli.Compressor(quality=level)
    digest = hashlib.sha256()

    def emit(out: Any, compressed: bytes) -> None:
        if compressed:
            digest.update(compressed)
            out.write(bytearray(compressed))

    with fs.create(dest) as out:
        for source in sources:
            if isinstance(source, bytes):
                emit(out, compressor.process(source))
                continue
            with fs.open(source.uri) as stream:
                while True:
                    chunk = bytes(stream.readNBytes(_READ_CHUNK))  # Java 11+: byte[] -> bytes
                    if not chunk:
                        break
                    emit(out, compressor.process(chunk))
        emit(out, compressor.finish())
    fs.digests[dest] = digest.hexdigest()
    return fs.size(dest)


def _merge_small(items: list[str | bytes]) -> list[str | bytes]:
    out: list[str | bytes] = []
    for item in items:
        if isinstance(item, bytes) and out and isinstance(out[-1], bytes):
            out[-1] = out[-1] + item
        else:
            out.append(item)
    return out


def piece_dir(staging: str) -> str:
    """Where compressed pieces wait before being joined."""
    return join(staging, "pieces")


def write_parquet(fs: HadoopFS, dest: str, parts: Sequence[Part]) -> int:
    """``dest`` = one parquet file holding the row groups of ``parts`` in order.

    Row groups are copied as they are (parquet-mr's ``ParquetFileWriter.appendFile``, JVM side);
    the footer keeps the first part's key/value metadata (Spark's schema). One part is just moved.
    """
    if len(parts) == 1:
        fs.rename(parts[0].uri, dest)
        return fs.size(dest)
    jvm = fs.jvm
    parquet = jvm.org.apache.parquet.hadoop
    first = parquet.util.HadoopInputFile.fromPath(fs.path(parts[0].uri), fs.conf)
    reader = parquet.ParquetFileReader.open(first)
    try:
        metadata = reader.getFooter().getFileMetaData()
    finally:
        reader.close()
    writer = parquet.ParquetFileWriter(
        fs.conf, metadata.getSchema(), fs.path(dest), parquet.ParquetFileWriter.Mode.CREATE
    )
    writer.start()
    for part in parts:
        writer.appendFile(parquet.util.HadoopInputFile.fromPath(fs.path(part.uri), fs.conf))
    writer.end(metadata.getKeyValueMetaData())
    return fs.size(dest)
