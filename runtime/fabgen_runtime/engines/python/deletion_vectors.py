"""Delta deletion vectors, decoded without Spark or delta-rs: the deleted row indexes of a data file.

A deletion vector (DV) marks rows of one Parquet data file as deleted by their physical position
in the file (0-based). The ``add`` action of the file carries a descriptor (Delta protocol,
"Deletion Vector Descriptor Schema"): ``storageType`` ``u`` (a file inside the table, named from
a Z85-encoded UUID after an optional random prefix), ``i`` (the bitmap itself, Z85-encoded in
the log) or ``p`` (an absolute path), and ``offset``, ``sizeInBytes``, ``cardinality``. The stored
form ("Deletion Vector File Storage Format"): a version byte ``1``, then per DV a big-endian
``dataSize``, ``dataSize`` bytes of bitmap and the big-endian CRC-32 of those bytes. The bitmap:
a little-endian magic ``1681511377`` and a 64-bit RoaringTreemap in the "portable" serialization
(RoaringFormatSpec: a bucket count, then per bucket its high 32 bits and a 32-bit Roaring bitmap
of array, bitmap and run containers; what Spark writes), or Delta's "native" one (big-endian magic
``1681511376``, bitmap count and sizes; the protocol's inline example), parsed here with numpy
(preinstalled on Fabric).

Anything that cannot be verified is refused with :class:`DeletionVectorError` (a
:class:`SourceReadError`): an unknown storage type, file version or magic, a CRC mismatch, a
cardinality that differs from the decoded count, malformed containers, trailing bytes, a DV path
outside the table folder. Nothing here guesses.
"""

from __future__ import annotations

import re
import struct
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.fs as pa_fs

from ...errors import SourceReadError

PORTABLE_MAGIC = 1681511377  # RoaringBitmapArray, portable 64-bit serialization (little-endian)
NATIVE_MAGIC = 1681511376  # RoaringBitmapArray, Delta's "native" serialization (big-endian framing)
FILE_FORMAT_VERSION = 1
SERIAL_COOKIE_NO_RUNS = 12346
SERIAL_COOKIE = 12347
NO_OFFSET_THRESHOLD = 4
ARRAY_MAX = 4096  # a container of more values is a bitmap (unless run-encoded)
UUID_CHARS = 20  # a 16-byte UUID in Z85
_Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_Z85_VALUE = {c: i for i, c in enumerate(_Z85)}
_PREFIX = re.compile(r"[A-Za-z0-9]*")  # Delta's random prefixes: letters and digits only

Rows = npt.NDArray[np.uint64]


class DeletionVectorError(SourceReadError):
    """A deletion vector that cannot be read or verified (the caller names export and table)."""


@dataclass(frozen=True)
class Descriptor:
    """A ``deletionVector`` of an ``add`` action."""

    storage_type: str
    path_or_inline: str
    offset: int | None
    size: int
    cardinality: int

    @classmethod
    def from_action(cls, dv: dict[str, Any]) -> Descriptor:
        """The descriptor from the log's JSON (or a checkpoint's struct) fields."""
        try:
            offset = dv.get("offset")
            return cls(
                str(dv["storageType"]),
                str(dv["pathOrInlineDv"]),
                None if offset is None else int(offset),
                int(dv["sizeInBytes"]),
                int(dv["cardinality"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DeletionVectorError(f"malformed deletionVector descriptor {dv!r}: {exc}") from None

    @property
    def unique_id(self) -> str:
        """The protocol's derived ``uniqueId`` (reconciles add and remove actions of one file)."""
        base = f"{self.storage_type}{self.path_or_inline}"
        return base if self.offset is None else f"{base}@{self.offset}"


def z85_decode(text: str, length: int | None = None) -> bytes:
    """Z85 (ZeroMQ RFC 32) text as bytes, truncated to ``length`` (Delta pads to a multiple of 4)."""
    if len(text) % 5:
        raise DeletionVectorError(f"Z85 text of {len(text)} characters is not a multiple of 5")
    out = bytearray()
    for start in range(0, len(text), 5):
        value = 0
        for char in text[start : start + 5]:
            digit = _Z85_VALUE.get(char)
            if digit is None:
                raise DeletionVectorError(f"{char!r} is not a Z85 character")
            value = value * 85 + digit
        if value > 0xFFFFFFFF:
            raise DeletionVectorError(f"Z85 group {text[start : start + 5]!r} overflows 32 bits")
        out += value.to_bytes(4, "big")
    if length is not None:
        if length > len(out) or len(out) - length >= 4:
            raise DeletionVectorError(f"Z85 text of {len(text)} characters does not hold {length} bytes")
        del out[length:]
    return bytes(out)


def _normal(uri: str) -> str:
    """A URI decoded, ``file:`` spellings (``file:/x``, ``file:///x``) as one plain path."""
    from urllib.parse import unquote

    return re.sub(r"^file:/*", "/", unquote(uri))


def relative_path(descriptor: Descriptor, table_uri: str) -> str:
    """The DV file's path relative to the table folder (``u`` and ``p``), refused outside it."""
    if descriptor.storage_type == "u":
        encoded = descriptor.path_or_inline
        prefix, encoded_uuid = encoded[:-UUID_CHARS], encoded[-UUID_CHARS:]
        if len(encoded) < UUID_CHARS or not _PREFIX.fullmatch(prefix):
            raise DeletionVectorError(f"deletion vector path {encoded!r} is not a prefix and a Z85 UUID")
        name = f"deletion_vector_{uuid.UUID(bytes=z85_decode(encoded_uuid))}.bin"
        return f"{prefix}/{name}" if prefix else name
    if descriptor.storage_type == "p":
        root = _normal(table_uri).rstrip("/") + "/"
        path = _normal(descriptor.path_or_inline)
        inside = path[len(root) :] if path.startswith(root) else None
        if not inside or any(part in ("", ".", "..") for part in inside.split("/")):
            raise DeletionVectorError(f"deletion vector file {path} is outside the table folder {root}")
        return inside
    raise DeletionVectorError(f"deletion vector storage type {descriptor.storage_type!r} is not known")


def read_stored(filesystem: pa_fs.FileSystem, path: str, offset: int, size: int) -> bytes:
    """One DV's bitmap bytes from a DV file, its version byte, size and CRC-32 checked."""
    with filesystem.open_input_file(path) as stream:
        version = stream.read(1)
        if version != bytes([FILE_FORMAT_VERSION]):
            raise DeletionVectorError(f"deletion vector file {path}: format version {version!r} is not 1")
        if offset < 1:
            raise DeletionVectorError(f"deletion vector file {path}: offset {offset} is inside the header")
        stream.seek(offset)
        stored = bytes(stream.read(4 + size + 4))
    if len(stored) != 4 + size + 4:
        raise DeletionVectorError(f"deletion vector file {path} ends before offset {offset} + {size} bytes")
    (data_size,) = struct.unpack(">i", stored[:4])
    if data_size != size:
        raise DeletionVectorError(
            f"deletion vector file {path} at {offset}: stored size {data_size}, descriptor says {size}"
        )
    data = stored[4 : 4 + size]
    (checksum,) = struct.unpack(">I", stored[4 + size :])
    if zlib.crc32(data) != checksum:
        raise DeletionVectorError(f"deletion vector file {path} at {offset}: CRC-32 mismatch")
    return data


class _Reader:
    """Little-endian reads over a bytes buffer that refuse to run past its end."""

    def __init__(self, data: bytes, start: int = 0):
        self.data, self.pos = data, start

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise DeletionVectorError("the deletion vector's bitmap ends early (truncated or malformed)")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def array(self, dtype: str, count: int) -> npt.NDArray[Any]:
        return np.frombuffer(self.take(count * np.dtype(dtype).itemsize), dtype=dtype)


def _container(reader: _Reader, cardinality: int, is_run: bool) -> npt.NDArray[np.uint32]:
    """The low 16 bits of one container's values, ascending."""
    if is_run:
        (runs,) = reader.unpack("H")
        pairs = reader.array("<u2", 2 * runs).astype(np.uint32).reshape(-1, 2)
        starts, lengths = pairs[:, 0], pairs[:, 1] + 1
        if np.any(starts + lengths > 1 << 16) or np.any(starts[1:] < starts[:-1] + lengths[:-1]):
            raise DeletionVectorError("a run container's runs overlap, are unsorted or leave 16 bits")
        before = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)[:-1]))  # values of earlier runs
        shift = np.repeat(starts.astype(np.int64) - before, lengths)
        values = (np.arange(int(lengths.sum()), dtype=np.int64) + shift).astype(np.uint32)
    elif cardinality <= ARRAY_MAX:
        values = reader.array("<u2", cardinality).astype(np.uint32)
        if np.any(values[1:] <= values[:-1]):
            raise DeletionVectorError("an array container's values are not strictly ascending")
    else:
        bits = np.unpackbits(reader.array("u1", 8192), bitorder="little")
        values = np.flatnonzero(bits).astype(np.uint32)
    if len(values) != cardinality:
        raise DeletionVectorError(f"a container holds {len(values)} values, its header says {cardinality}")
    return values


def _bitmap32(reader: _Reader) -> npt.NDArray[np.uint32]:
    """One 32-bit Roaring bitmap in the standard serialization, its values ascending."""
    (cookie,) = reader.unpack("I")
    if cookie & 0xFFFF == SERIAL_COOKIE:
        count = (cookie >> 16) + 1
        run_flags = np.unpackbits(reader.array("u1", (count + 7) // 8), bitorder="little")[:count]
    elif cookie == SERIAL_COOKIE_NO_RUNS:
        (count,) = reader.unpack("I")
        run_flags = np.zeros(count, dtype=np.uint8)
    else:
        raise DeletionVectorError(f"unknown Roaring cookie {cookie}")
    header = reader.array("<u2", 2 * count).astype(np.uint32).reshape(-1, 2)
    keys, cardinalities = header[:, 0], header[:, 1] + 1
    if np.any(keys[1:] <= keys[:-1]):
        raise DeletionVectorError("the Roaring container keys are not strictly ascending")
    if cookie == SERIAL_COOKIE_NO_RUNS or count >= NO_OFFSET_THRESHOLD:
        reader.take(4 * count)  # container offsets: the containers follow in order anyway
    parts = [
        (int(key) << 16) + _container(reader, int(card), bool(flag))
        for key, card, flag in zip(keys, cardinalities, run_flags, strict=True)
    ]
    return np.concatenate(parts).astype(np.uint32) if parts else np.empty(0, dtype=np.uint32)


def _native(reader: _Reader) -> list[Rows]:
    """The buckets of Delta's "native" serialization: a count, then sized bitmaps for keys 0, 1, ..."""
    (count,) = struct.unpack(">I", reader.take(4))
    parts: list[Rows] = []
    for high in range(count):
        (size,) = struct.unpack(">I", reader.take(4))
        start = reader.pos
        values = _bitmap32(reader).astype(np.uint64)
        if reader.pos - start != size:
            raise DeletionVectorError(
                f"native bitmap {high} has {reader.pos - start} bytes, its size says {size}"
            )
        parts.append((np.uint64(high) << np.uint64(32)) | values)
    return parts


def _portable(reader: _Reader) -> list[Rows]:
    """The buckets of the portable 64-bit serialization: a count, then keyed bitmaps, ascending."""
    (buckets,) = reader.unpack("Q")
    parts: list[Rows] = []
    previous = -1
    for _ in range(buckets):
        (high,) = reader.unpack("I")
        if high <= previous or high >= 1 << 31:
            raise DeletionVectorError(f"Roaring bucket key {high} is out of order or has its top bit set")
        previous = high
        parts.append((np.uint64(high) << np.uint64(32)) | _bitmap32(reader).astype(np.uint64))
    return parts


def decode_bitmap(data: bytes) -> Rows:
    """The row indexes of a serialized RoaringBitmapArray, ascending.

    The portable format (little-endian magic ``1681511377``, what Spark writes) and the "native"
    one (big-endian magic ``1681511376`` and sizes; the protocol's inline example uses it).
    """
    reader = _Reader(data)
    head = reader.take(4)
    if struct.unpack("<I", head)[0] == PORTABLE_MAGIC:
        parts = _portable(reader)
    elif struct.unpack(">I", head)[0] == NATIVE_MAGIC:
        parts = _native(reader)
    else:
        raise DeletionVectorError(f"deletion vector magic {head.hex()} is neither Roaring format's")
    if reader.pos != len(data):
        raise DeletionVectorError(f"{len(data) - reader.pos} bytes follow the deletion vector's bitmap")
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)


def deleted_rows(descriptor: Descriptor, filesystem: pa_fs.FileSystem, table_uri: str) -> Rows:
    """The deleted row indexes (ascending ``uint64``) a descriptor holds, every check passed.

    ``filesystem`` is rooted at the table folder (the one the data files are read through), so a
    DV file is read with the same credentials as the table.
    """
    if descriptor.storage_type == "i":
        if descriptor.offset is not None:
            raise DeletionVectorError("an inline deletion vector has an offset")
        data = z85_decode(descriptor.path_or_inline, descriptor.size)
    else:
        path = relative_path(descriptor, table_uri)
        if descriptor.offset is None:
            raise DeletionVectorError(f"deletion vector in {path} has no offset")
        data = read_stored(filesystem, path, descriptor.offset, descriptor.size)
    rows = decode_bitmap(data)
    if len(rows) != descriptor.cardinality:
        raise DeletionVectorError(
            f"deletion vector decodes to {len(rows)} rows, its cardinality is {descriptor.cardinality}"
        )
    return rows
