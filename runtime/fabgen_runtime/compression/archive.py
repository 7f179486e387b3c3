"""Pure builders for archive metadata: zip headers (with Zip64) and tar headers.

Data never passes through here: callers copy the (already compressed) bytes between the
headers these functions return. Zip entries are written with sizes and CRC in the local
header (no data descriptor), because every piece is compressed before the archive is joined.
"""

from __future__ import annotations

import struct
import tarfile
from dataclasses import dataclass
from datetime import datetime

ZIP64_LIMIT = 0xFFFFFFFF
ZIP_COUNT_LIMIT = 0xFFFF
METHOD_DEFLATED = 8
_UTF8_FLAG = 0x0800


@dataclass(frozen=True)
class ZipEntry:
    """One member of a zip archive, as the central directory records it."""

    name: str
    crc: int
    size: int  # uncompressed bytes
    compressed_size: int
    offset: int  # where its local header starts
    modified: datetime
    method: int = METHOD_DEFLATED


def _dos_time(moment: datetime) -> tuple[int, int]:
    year = min(max(moment.year, 1980), 2107)
    date = ((year - 1980) << 9) | (moment.month << 5) | moment.day
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    return time, date


def _name(entry: ZipEntry) -> tuple[bytes, int]:
    try:
        return entry.name.encode("ascii"), 0
    except UnicodeEncodeError:
        return entry.name.encode("utf-8"), _UTF8_FLAG


def local_header(entry: ZipEntry, force_zip64: bool = False) -> bytes:
    """The local file header of ``entry`` (Zip64 extra field when a size needs it)."""
    name, flags = _name(entry)
    zip64 = force_zip64 or entry.size >= ZIP64_LIMIT or entry.compressed_size >= ZIP64_LIMIT
    extra = struct.pack("<HHQQ", 0x0001, 16, entry.size, entry.compressed_size) if zip64 else b""
    size = ZIP64_LIMIT if zip64 else entry.size
    csize = ZIP64_LIMIT if zip64 else entry.compressed_size
    time, date = _dos_time(entry.modified)
    return (
        struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            45 if zip64 else 20,
            flags,
            entry.method,
            time,
            date,
            entry.crc & 0xFFFFFFFF,
            csize,
            size,
            len(name),
            len(extra),
        )
        + name
        + extra
    )


def central_directory(entries: list[ZipEntry], offset: int, force_zip64: bool = False) -> bytes:
    """Central directory and end records for ``entries``; the directory starts at ``offset``."""
    records = []
    for entry in entries:
        name, flags = _name(entry)
        fields = []
        size, csize, header_offset = entry.size, entry.compressed_size, entry.offset
        if force_zip64 or size >= ZIP64_LIMIT:
            fields.append(size)
            size = ZIP64_LIMIT
        if force_zip64 or csize >= ZIP64_LIMIT:
            fields.append(csize)
            csize = ZIP64_LIMIT
        if force_zip64 or header_offset >= ZIP64_LIMIT:
            fields.append(header_offset)
            header_offset = ZIP64_LIMIT
        extra = struct.pack(f"<HH{len(fields)}Q", 0x0001, 8 * len(fields), *fields) if fields else b""
        version = 45 if fields else 20
        time, date = _dos_time(entry.modified)
        records.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                (3 << 8) | version,
                version,
                flags,
                entry.method,
                time,
                date,
                entry.crc & 0xFFFFFFFF,
                csize,
                size,
                len(name),
                len(extra),
                0,
                0,
                0,
                0o100644 << 16,
                header_offset,
            )
            + name
            + extra
        )
    directory = b"".join(records)
    count, size = len(entries), len(directory)
    end = b""
    if force_zip64 or count >= ZIP_COUNT_LIMIT or size >= ZIP64_LIMIT or offset >= ZIP64_LIMIT:
        zip64_end_offset = offset + size
        end += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, size, offset)
        end += struct.pack("<IIQI", 0x07064B50, 0, zip64_end_offset, 1)
        count = min(count, ZIP_COUNT_LIMIT)
        size = min(size, ZIP64_LIMIT)
        offset = min(offset, ZIP64_LIMIT)
    end += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, offset, 0)
    return directory + end


TAR_BLOCK = 512


def tar_header(name: str, size: int, modified: datetime) -> bytes:
    """The tar header block(s) of one regular file (PAX records when the name or size need them)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(modified.timestamp())
    info.mode = 0o644
    info.type = tarfile.REGTYPE
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def tar_padding(size: int) -> bytes:
    """Zeros that pad a member of ``size`` bytes to the next 512-byte block."""
    return b"\0" * ((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK)


def tar_end() -> bytes:
    """The end-of-archive marker: two zero blocks."""
    return b"\0" * (2 * TAR_BLOCK)
