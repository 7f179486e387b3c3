"""Pure helpers for joining independently compressed pieces (no JVM, no I/O).

* Raw deflate pieces that each end with a sync (or full) flush concatenate into one deflate
  stream; :data:`FINAL_BLOCK` (an empty, final, fixed-Huffman block) ends it. A piece compressed
  by its own compressor never refers back into an earlier piece, so the joined stream inflates
  to the concatenated input (the technique pigz uses).
* The CRC-32 of the whole is :func:`crc32_combine` over the pieces' CRCs and lengths.
* gzip members concatenate into one valid gzip file (RFC 1952, section 2.2).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

FINAL_BLOCK = b"\x03\x00"  # BFINAL=1, BTYPE=01, end-of-block: what Z_FINISH emits after a flush
_POLY = 0xEDB88320


def _gf2_times(matrix: list[int], vector: int) -> int:
    total = 0
    index = 0
    while vector:
        if vector & 1:
            total ^= matrix[index]
        vector >>= 1
        index += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of ``A + B`` from ``crc32(A)``, ``crc32(B)`` and ``len(B)`` (zlib's algorithm)."""
    if len2 <= 0:
        return crc1
    operator = [_POLY] + [1 << n for n in range(31)]  # appends one zero bit
    operator = _gf2_square(_gf2_square(operator))  # four zero bits
    while len2:
        operator = _gf2_square(operator)  # one zero byte, then 2, 4, 8, ... zero bytes
        if len2 & 1:
            crc1 = _gf2_times(operator, crc1)
        len2 >>= 1
    return crc1 ^ crc2


def combine_all(pieces: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """``(crc, length)`` of the concatenation of pieces given as ``(crc, length)`` in order."""
    crc, total = 0, 0
    for piece_crc, length in pieces:
        crc = crc32_combine(crc, piece_crc, length) if total else piece_crc
        total += length
    return crc, total


def deflate_piece(data: bytes, level: int) -> bytes:
    """``data`` as a raw deflate piece ending with a sync flush (joinable; not final)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


def gzip_header() -> bytes:
    """A minimal gzip member header: deflate, no name, mtime 0, unknown OS."""
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def gzip_trailer(crc: int, length: int) -> bytes:
    """The gzip member trailer: CRC-32 and input size modulo 2**32, little endian."""
    return struct.pack("<II", crc & 0xFFFFFFFF, length & 0xFFFFFFFF)


def gzip_member(data: bytes, level: int) -> bytes:
    """``data`` as one complete gzip member (an empty input gives a valid empty member)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = compressor.compress(data) + compressor.flush(zlib.Z_FINISH)
    return gzip_header() + body + gzip_trailer(zlib.crc32(data), len(data))
