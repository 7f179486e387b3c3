"""Join parquet row groups that were encoded as separate files into one file.

pyarrow's writer encodes one row group at a time on one thread. To encode row groups in parallel,
:class:`.parquet.ParquetFile` writes each row group as a complete parquet file in memory (on its
own thread) and appends its pages to the output in order; this module makes the single footer:

* :func:`split` cuts such a file into its pages (everything between the leading ``PAR1`` and the
  footer) and its footer, decoded;
* :func:`joined_footer` shifts every absolute file offset of each file's row group by where its
  pages landed in the output, numbers the row groups and returns the footer of the whole file.

The footer is Thrift's compact protocol (the ``FileMetaData`` struct of parquet.thrift). The codec
here is generic (every field is kept, in order, with its exact encoding), so an unchanged footer
re-encodes to the same bytes; only the offsets named below are rewritten. A row group with a page
index or a bloom filter (written after the row groups, which are all that is copied) is refused:
the engine enables neither.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

MAGIC = b"PAR1"

# Thrift compact protocol type codes
STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(13)
INTEGERS = (I16, I32, I64)

# parquet.thrift field ids
FILE_NUM_ROWS, FILE_ROW_GROUPS = 3, 4
GROUP_COLUMNS, GROUP_FILE_OFFSET, GROUP_ORDINAL = 1, 5, 7
CHUNK_FILE_PATH, CHUNK_FILE_OFFSET, CHUNK_META = 1, 2, 3
CHUNK_INDEXES = (4, 5, 6, 7)  # offset/column index offsets and lengths: a page index
META_OFFSETS = (9, 10, 11)  # data, index and dictionary page offsets
META_BLOOM = (14, 15)


class FooterError(ValueError):
    """A parquet footer this module cannot join (malformed, or with parts it does not copy)."""


Field = list[Any]  # [field id, type, value]; a struct is a list of fields


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise FooterError("the footer ends in the middle of a value")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise FooterError("the footer ends in the middle of a value")
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value

    def value(self, kind: int) -> Any:
        if kind in (TRUE, FALSE, BYTE):
            return self.byte()  # a bool inside a collection, or an i8: kept as its byte
        if kind in INTEGERS:
            return self.zigzag()
        if kind == DOUBLE:
            return self.take(8)
        if kind == BINARY:
            return self.take(self.varint())
        if kind in (LIST, SET):
            header = self.byte()
            size, element = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            return (element, [self.value(element) for _ in range(size)])
        if kind == STRUCT:
            return self.struct()
        raise FooterError(f"unsupported thrift compact type {kind}")  # maps: not in FileMetaData

    def struct(self) -> list[Field]:
        fields: list[Field] = []
        last = 0
        while True:
            header = self.byte()
            if header == STOP:
                return fields
            delta, kind = header >> 4, header & 0x0F
            field_id = last + delta if delta else self.zigzag()
            value = None if kind in (TRUE, FALSE) else self.value(kind)
            fields.append([field_id, kind, value])
            last = field_id


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def varint(self, value: int) -> None:
        while value > 0x7F:
            self.out.append((value & 0x7F) | 0x80)
            value >>= 7
        self.out.append(value)

    def zigzag(self, value: int) -> None:
        self.varint((value << 1) ^ (value >> 63))

    def value(self, kind: int, value: Any) -> None:
        if kind in (TRUE, FALSE, BYTE):
            self.out.append(value)
        elif kind in INTEGERS:
            self.zigzag(value)
        elif kind == DOUBLE:
            self.out += value
        elif kind == BINARY:
            self.varint(len(value))
            self.out += value
        elif kind in (LIST, SET):
            element, items = value
            if len(items) < 15:
                self.out.append(len(items) << 4 | element)
            else:
                self.out.append(0xF0 | element)
                self.varint(len(items))
            for item in items:
                self.value(element, item)
        elif kind == STRUCT:
            self.struct(value)
        else:
            raise FooterError(f"unsupported thrift compact type {kind}")

    def struct(self, fields: list[Field]) -> None:
        last = 0
        for field_id, kind, value in fields:
            delta = field_id - last
            if 0 < delta <= 15:
                self.out.append(delta << 4 | kind)
            else:
                self.out.append(kind)
                self.zigzag(field_id)
            if kind not in (TRUE, FALSE):
                self.value(kind, value)
            last = field_id
        self.out.append(STOP)


def decode(data: bytes) -> list[Field]:
    """A thrift compact struct (a parquet footer) as a list of ``[field id, type, value]``."""
    reader = _Reader(data)
    fields = reader.struct()
    if reader.pos != len(data):
        raise FooterError(f"{len(data) - reader.pos} bytes after the footer's struct")
    return fields


def encode(fields: list[Field]) -> bytes:
    """The thrift compact bytes of a struct from :func:`decode` (same bytes when unchanged)."""
    writer = _Writer()
    writer.struct(fields)
    return bytes(writer.out)


@dataclass
class Encoded:
    """One parquet file cut apart: its pages and its decoded footer."""

    pages: memoryview  # the bytes between the leading magic and the footer
    footer: list[Field]

    def row_groups(self) -> list[list[Field]]:
        groups: list[list[Field]] = _get(self.footer, FILE_ROW_GROUPS, (STRUCT, []))[1]
        return groups

    def rows(self) -> int:
        return int(_get(self.footer, FILE_NUM_ROWS, 0))


def split(data: bytes | memoryview) -> Encoded:
    """Cut a whole parquet file (bytes) into its pages and its decoded footer."""
    view = memoryview(data)
    if len(view) < 12 or bytes(view[:4]) != MAGIC or bytes(view[-4:]) != MAGIC:
        raise FooterError("not a parquet file (magic bytes missing)")
    length = struct.unpack("<I", view[-8:-4])[0]
    start = len(view) - 8 - length
    if start < 4:
        raise FooterError("the footer length points before the data")
    return Encoded(view[4:start], decode(bytes(view[start:-8])))


def _get(fields: list[Field], field_id: int, default: Any = None) -> Any:
    return next((value for fid, _kind, value in fields if fid == field_id), default)


def _shift(fields: list[Field], ids: tuple[int, ...], by: int) -> None:
    """Move the offsets ``ids`` by ``by`` bytes; 0 is "not set" (Arrow writes the deprecated
    ``ColumnChunk.file_offset`` as 0) and stays 0."""
    for item in fields:
        if item[0] in ids and item[2]:
            item[2] += by


def _moved(group: list[Field], by: int, ordinal: int) -> list[Field]:
    """A row group's struct with its offsets moved ``by`` bytes and its ordinal (where the writer
    wrote one) set to its place in the joined file."""
    for column in _get(group, GROUP_COLUMNS, (STRUCT, []))[1]:
        present = {fid for fid, _kind, _value in column}
        if present & set(CHUNK_INDEXES) or CHUNK_FILE_PATH in present:
            raise FooterError("a column chunk with a page index or in another file cannot be joined")
        _shift(column, (CHUNK_FILE_OFFSET,), by)
        meta = _get(column, CHUNK_META)
        if meta is not None:
            if {fid for fid, _kind, _value in meta} & set(META_BLOOM):
                raise FooterError("a column chunk with a bloom filter cannot be joined")
            _shift(meta, META_OFFSETS, by)
    _shift(group, (GROUP_FILE_OFFSET,), by)
    for item in group:
        if item[0] == GROUP_ORDINAL:
            item[2] = ordinal
    return group


def joined_footer(parts: list[tuple[Encoded, int]]) -> bytes:
    """The footer (thrift, length and magic) of a file made of ``parts``: each file's pages written
    at the given output offset, in order. The first part's footer gives the schema, the key-value
    metadata and ``created_by``; its row groups and row count become those of every part."""
    if not parts:
        raise FooterError("no parts to join")
    groups: list[list[Field]] = []
    rows = 0
    for encoded, offset in parts:
        for group in encoded.row_groups():
            groups.append(_moved(group, offset - len(MAGIC), len(groups)))
        rows += encoded.rows()
    footer = [list(item) for item in parts[0][0].footer]
    for item in footer:
        if item[0] == FILE_NUM_ROWS:
            item[2] = rows
        elif item[0] == FILE_ROW_GROUPS:
            item[2] = (STRUCT, groups)
    body = encode(footer)
    return body + struct.pack("<I", len(body)) + MAGIC
