"""crc32_combine, deflate piece joining into zip entries, gzip member joining, tar and zip headers.

Pure Python (no JVM): archives are assembled in memory exactly as the writer assembles them
in staging, then checked with Python's zipfile/gzip/tarfile and the ``unzip``/``gzip`` tools.
"""

from __future__ import annotations

import gzip
import io
import random
import subprocess
import tarfile
import zipfile
import zlib
from datetime import datetime

import pytest
from fabgen_runtime import compression
from fabgen_runtime.compression import archive, deflate
from fabgen_runtime.errors import CompressionError

WHEN = datetime(2025, 12, 12, 14, 30, 22)


def _chunks(seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    words = [b"alpha", b"beta", b"gamma", "d\u00e9lta".encode(), b"\n", b",", b'"', b" "]
    chunks = [b"".join(rng.choice(words) for _ in range(rng.randint(0, 40_000))) for _ in range(5)]
    chunks.insert(2, b"")  # an empty piece joins too
    chunks.append(rng.randbytes(70_000))  # incompressible data gives stored blocks
    return chunks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_crc32_combine_matches_crc_of_concatenation(seed: int) -> None:
    rng = random.Random(seed)
    a = rng.randbytes(rng.randint(0, 5000))
    b = rng.randbytes(rng.randint(0, 5000))
    assert deflate.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_crc32_combine_handles_empty_and_huge_lengths() -> None:
    assert deflate.crc32_combine(123, zlib.crc32(b""), 0) == 123
    # 300 MiB of zeros, combined from a 1 MiB block with itself (the slow test goes past 4 GiB).
    block = bytes(1 << 20)
    crc, length = deflate.combine_all([(zlib.crc32(block), len(block))] * 300)
    assert length == 300 << 20
    expected = 0
    for _ in range(300):
        expected = zlib.crc32(block, expected)
    assert crc == expected


def test_combine_all_matches_zlib() -> None:
    chunks = _chunks()
    assert deflate.combine_all((zlib.crc32(c), len(c)) for c in chunks) == (
        zlib.crc32(b"".join(chunks)),
        sum(map(len, chunks)),
    )


@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_sync_flushed_pieces_join_into_one_deflate_stream(level: int) -> None:
    chunks = _chunks()
    stream = b"".join(deflate.deflate_piece(c, level) for c in chunks) + deflate.FINAL_BLOCK
    decompressor = zlib.decompressobj(-15)
    assert decompressor.decompress(stream) == b"".join(chunks)
    assert decompressor.eof and decompressor.unused_data == b""


def _zip_bytes(entries: list[tuple[str, list[bytes]]], level: int, force_zip64: bool = False) -> bytes:
    """Assemble a zip the way assemble.write_zip does, from pieces compressed one by one."""
    out = io.BytesIO()
    directory = []
    for name, chunks in entries:
        pieces = [deflate.deflate_piece(c, level) for c in chunks]
        crc, size = deflate.combine_all((zlib.crc32(c), len(c)) for c in chunks)
        compressed = sum(map(len, pieces)) + len(deflate.FINAL_BLOCK)
        entry = archive.ZipEntry(name, crc, size, compressed, out.tell(), WHEN)
        out.write(archive.local_header(entry, force_zip64))
        for piece in pieces:
            out.write(piece)
        out.write(deflate.FINAL_BLOCK)
        directory.append(entry)
    out.write(archive.central_directory(directory, out.tell(), force_zip64))
    return out.getvalue()


def _unzip_test(path: str) -> None:
    result = subprocess.run(["unzip", "-t", path], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors detected" in result.stdout


@pytest.mark.parametrize("force_zip64", [False, True])
def test_stitched_zip_is_valid_for_zipfile_and_unzip(tmp_path, force_zip64: bool) -> None:
    chunks = _chunks()
    entries = [
        ("orders_part0001.csv", chunks[:3]),
        ("orders_part0002.csv", chunks[3:]),
        ("\u00e9t\u00e9.csv", [b"x"]),
    ]
    data = _zip_bytes(entries, 6, force_zip64)
    path = tmp_path / "out.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as archive_file:
        assert archive_file.testzip() is None
        assert archive_file.namelist() == [name for name, _ in entries]
        for name, parts in entries:
            assert archive_file.read(name) == b"".join(parts)
        info = archive_file.getinfo("orders_part0001.csv")
        assert info.date_time == (2025, 12, 12, 14, 30, 22)
    _unzip_test(str(path))


def test_zip_level_zero_still_valid(tmp_path) -> None:
    path = tmp_path / "stored.zip"
    path.write_bytes(_zip_bytes([("a.csv", _chunks())], 0))
    _unzip_test(str(path))
    assert zipfile.ZipFile(path).read("a.csv") == b"".join(_chunks())


@pytest.mark.slow
@pytest.mark.spark  # integration: writes a file past 4 GiB
def test_zip64_past_4_gib(tmp_path) -> None:
    """A real entry over 4 GiB: one compressed 64 MiB piece of zeros repeated 66 times."""
    block = bytes(64 << 20)
    piece = deflate.deflate_piece(block, 1)
    repeats = 66  # 4.125 GiB
    crc, size = deflate.combine_all([(zlib.crc32(block), len(block))] * repeats)
    assert size > archive.ZIP64_LIMIT
    compressed = len(piece) * repeats + len(deflate.FINAL_BLOCK)
    entry = archive.ZipEntry("big.csv", crc, size, compressed, 0, WHEN)
    path = tmp_path / "big.zip"
    with open(path, "wb") as out:
        out.write(archive.local_header(entry))
        for _ in range(repeats):
            out.write(piece)
        out.write(deflate.FINAL_BLOCK)
        offset = out.tell()
        out.write(archive.central_directory([entry], offset))
    with zipfile.ZipFile(path) as archive_file:
        info = archive_file.getinfo("big.csv")
        assert info.file_size == size
        with archive_file.open(info) as stream:  # reads to the end and checks the CRC
            total = 0
            while chunk := stream.read(16 << 20):
                total += len(chunk)
        assert total == size
    _unzip_test(str(path))


def test_gzip_members_join_and_header_member_first(tmp_path) -> None:
    header = b"id,name\n"
    chunks = _chunks()
    data = deflate.gzip_member(header, 6) + b"".join(deflate.gzip_member(c, 6) for c in chunks)
    assert gzip.decompress(data) == header + b"".join(chunks)
    path = tmp_path / "joined.csv.gz"
    path.write_bytes(data)
    assert subprocess.run(["gzip", "-t", str(path)], check=False).returncode == 0
    # An empty member is a valid gzip file on its own.
    assert gzip.decompress(deflate.gzip_member(b"", 6)) == b""


def test_gzip_member_from_sync_flushed_parts_equals_standard_member() -> None:
    """What pieces.py writes JVM side: header, sync-flushed deflate, final block, trailer."""
    chunk = b"".join(_chunks())
    member = (
        deflate.gzip_header()
        + deflate.deflate_piece(chunk, 6)
        + deflate.FINAL_BLOCK
        + deflate.gzip_trailer(zlib.crc32(chunk), len(chunk))
    )
    assert gzip.decompress(member) == chunk


def test_tar_headers_make_a_valid_tar(tmp_path) -> None:
    members = [
        ("orders_part0001.csv", b"id\n1\n"),
        ("orders_part0002.csv", b""),
        ("p" * 120 + ".csv", b"x" * 513),
    ]
    stream = b""
    for name, data in members:
        stream += archive.tar_header(name, len(data), WHEN) + data + archive.tar_padding(len(data))
    stream += archive.tar_end()
    with tarfile.open(fileobj=io.BytesIO(gzip.compress(stream)), mode="r:gz") as tar:
        names = tar.getnames()
        assert names == [name for name, _ in members]
        for name, data in members:
            assert tar.extractfile(name).read() == data


def test_codec_levels_and_availability() -> None:
    assert compression.get("gzip").level(None) == 6
    assert compression.get("zip").level(0) == 0
    with pytest.raises(CompressionError, match="not valid for gzip"):
        compression.get("gzip").level(10, "g/e")
    with pytest.raises(CompressionError, match="unknown compression"):
        compression.get("rar")
    with pytest.raises(CompressionError, match="parquet only"):
        compression.get("snappy").check_available(None, "csv")
    assert compression.get("lz4").parquet_options(None) == {"compression": "lz4_raw"}
    assert compression.get("zstd").parquet_options(9)["parquet.compression.codec.zstd.level"] == "9"
