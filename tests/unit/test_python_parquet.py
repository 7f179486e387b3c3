"""The Python engine's parquet files: row groups encoded in parallel and joined under one footer
(``engines/python/parquet.py``, ``parquet_footer.py``), and parquet-mr's dictionary fallback test.

The joined file is checked the strictest way there is: byte for byte against the file a single
``pyarrow.parquet.ParquetWriter`` writes from the same row groups, then read back by pyarrow and
Polars (a second, independent parquet reader).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import struct
import time
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fabgen_runtime.engines.python import memory, parquet, parquet_footer

ROWS = 30_000


def sample_table(rows: int = ROWS) -> pa.Table:
    """Every column kind an export carries, with NULLs, repeats and distinct values."""
    ids = list(range(rows))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "small": pa.array([i % 7 for i in ids], pa.int16()),
            "amount": pa.array([Decimal(i) / 100 for i in ids], pa.decimal128(18, 2)),
            "wide": pa.array([None if i % 5 == 0 else Decimal(i) for i in ids], pa.decimal128(38, 6)),
            "ratio": pa.array([i / 3 for i in ids], pa.float64()),
            "flag": pa.array([i % 2 == 0 for i in ids]),
            "day": pa.array([dt.date(2025, 1, 1) + dt.timedelta(days=i % 400) for i in ids]),
            "at": pa.array(
                [dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=i) for i in ids],
                pa.timestamp("us", tz="UTC"),
            ),
            "note": pa.array([None if i % 11 == 0 else f"note {i} ünï" for i in ids]),
            "tag": pa.array([f"tag{i % 30}" for i in ids]),
            "tags": pa.array([[f"t{i % 3}", None] for i in ids], pa.list_(pa.string())),
            "pair": pa.array([{"k": i % 4, "v": str(i)} for i in ids]),
        }
    )


def one_writer(table: pa.Table, groups: list[pa.Table], **options) -> bytes:
    out = io.BytesIO()
    with pq.ParquetWriter(out, table.schema, **options) as writer:
        for group in groups:
            writer.write_table(group, row_group_size=group.num_rows)
    return out.getvalue()


def joined(table: pa.Table, groups: list[pa.Table], **options) -> bytes:
    out = bytearray(parquet_footer.MAGIC)
    parts = []
    for group in groups:
        encoded = parquet_footer.split(one_writer(table, [group], **options))
        parts.append((encoded, len(out)))
        out += encoded.pages
    return bytes(out + parquet_footer.joined_footer(parts))


def groups_of(table: pa.Table, size: int) -> list[pa.Table]:
    return [table.slice(start, size) for start in range(0, table.num_rows, size)]


@pytest.mark.parametrize(
    "options",
    [
        {"compression": "snappy"},
        {"compression": "zstd", "compression_level": 9, "use_dictionary": ["tag", "small"]},
        {"compression": "gzip", "use_dictionary": False, "data_page_size": 4096},
        {"compression": "none", "write_statistics": False},
    ],
    ids=["snappy", "zstd-some-dictionaries", "gzip-small-pages", "none-no-statistics"],
)
def test_joined_row_groups_are_byte_identical_to_one_writer(options) -> None:
    table = sample_table()
    groups = groups_of(table, 7_000)  # five row groups, the last one short
    expected = one_writer(table, groups, **options)
    data = joined(table, groups, **options)
    assert data == expected
    assert pq.read_table(io.BytesIO(data)).equals(table)
    assert pl.read_parquet(io.BytesIO(data)).to_arrow().num_rows == ROWS


def test_a_footer_decodes_and_encodes_to_the_same_bytes() -> None:
    data = one_writer(sample_table(), groups_of(sample_table(), 10_000), compression="snappy")
    length = struct.unpack("<I", data[-8:-4])[0]
    body = data[-8 - length : -8]
    fields = parquet_footer.decode(body)
    assert parquet_footer.encode(fields) == body
    assert len(parquet_footer.split(data).row_groups()) == 3


def test_no_row_groups_join_into_the_schema_only_file() -> None:
    table = sample_table(0)
    empty = parquet_footer.split(one_writer(table, []))
    data = bytes(parquet_footer.MAGIC + parquet_footer.joined_footer([(empty, 4)]))
    assert data == one_writer(table, [])
    assert pq.read_table(io.BytesIO(data)).schema.equals(table.schema)


@pytest.mark.parametrize(
    ("where", "field"),
    [("chunk", 4), ("chunk", 6), ("meta", 14)],
    ids=["offset-index", "column-index", "bloom-filter"],
)
def test_row_groups_with_parts_written_after_them_are_refused(where, field) -> None:
    """A page index (ColumnChunk 4/6) or bloom filter (ColumnMetaData 14) lives after the row groups,
    which are all that is copied: such a footer is refused. The fields are added to a real footer, so
    every pyarrow runs every case (pyarrow 22 cannot write bloom filters)."""
    table = sample_table(100).select(["id"])
    encoded = parquet_footer.split(one_writer(table, [table]))
    (group,) = encoded.row_groups()
    chunk = next(value for fid, _kind, value in group if fid == parquet_footer.GROUP_COLUMNS)[1][0]
    target = (
        chunk if where == "chunk" else next(v for fid, _k, v in chunk if fid == parquet_footer.CHUNK_META)
    )
    target.append([field, parquet_footer.I64, 4])
    target.sort(key=lambda item: item[0])
    with pytest.raises(parquet_footer.FooterError, match=r"page index|bloom filter"):
        parquet_footer.joined_footer([(encoded, 4)])


@pytest.mark.parametrize("broken", [b"", b"PAR1", b"NOPE" + b"\0" * 20, b"PAR1" + b"\xff" * 8 + b"PAR1"])
def test_what_is_not_a_parquet_file_is_refused(broken) -> None:
    with pytest.raises(parquet_footer.FooterError):
        parquet_footer.split(broken)


def test_a_truncated_footer_is_refused() -> None:
    data = one_writer(sample_table(100), [sample_table(100)])
    length = struct.unpack("<I", data[-8:-4])[0]
    with pytest.raises(parquet_footer.FooterError):
        parquet_footer.decode(data[-8 - length : -8 - length // 2])


def test_the_file_writer_equals_one_writer_across_threads(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 4_000)
    table = sample_table()
    digests: dict[str, tuple[int, str]] = {}
    path = str(tmp_path / "out.parquet")
    target = parquet.ParquetFile(path, table.schema, "zstd", 3, parquet.ParquetOptions(), digests)
    for batch in table.to_batches(max_chunksize=1_000):
        target.write(batch)
    target.close()
    data = Path(path).read_bytes()
    dictionary = parquet.dictionary_columns(table.slice(0, 4_000), 1024 * 1024)
    groups = groups_of(table, 4_000)
    assert data == one_writer(
        table,
        groups,
        compression="ZSTD",
        compression_level=3,
        use_dictionary=dictionary,
        data_page_size=1024 * 1024,
    )
    assert digests[path] == (len(data), hashlib.sha256(data).hexdigest())


def write_file(path: str, table: pa.Table, chunk: int = 1_000) -> bytes:
    target = parquet.ParquetFile(path, table.schema, "snappy", None, parquet.ParquetOptions(), {})
    for batch in table.to_batches(max_chunksize=chunk):
        target.write(batch)
    target.close()
    return Path(path).read_bytes()


def expected_file(table: pa.Table, rows_per_group: int) -> bytes:
    dictionary = parquet.dictionary_columns(table.slice(0, rows_per_group), 1024 * 1024)
    return one_writer(
        table,
        groups_of(table, rows_per_group),
        compression="SNAPPY",
        use_dictionary=dictionary,
        data_page_size=1024 * 1024,
    )


def test_output_buffers_are_reused_across_row_groups(tmp_path, monkeypatch) -> None:
    """Each row group is encoded into a buffer of the engine's pool; once its pages are written the
    buffer serves a later row group (no buffer grown by re-allocation, no fresh pages per group)."""
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 3_000)
    allocated: list[int] = []
    real = pa.allocate_buffer

    def counted(size, *args, **kwargs):
        allocated.append(size)
        return real(size, *args, **kwargs)

    monkeypatch.setattr(parquet.pa, "allocate_buffer", counted)
    table = sample_table()  # ten row groups
    data = write_file(str(tmp_path / "out.parquet"), table)
    assert data == expected_file(table, 3_000)
    assert 1 <= len(allocated) <= parquet.threads() + 1


def test_a_row_group_larger_than_its_buffer_is_encoded_again(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 4_000)
    monkeypatch.setattr(parquet, "ENCODED_RATIO", 0.05)  # far too small: every row group overflows
    monkeypatch.setattr(parquet, "ENCODED_SLACK", 0)
    table = sample_table()
    data = write_file(str(tmp_path / "out.parquet"), table)
    assert data == expected_file(table, 4_000)
    assert pq.read_table(io.BytesIO(data)).equals(table)


def test_the_engine_pool_is_jemalloc_where_pyarrow_has_it(monkeypatch) -> None:
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    memory.pool.cache_clear()
    chosen = memory.pool()
    expected = "jemalloc" if "jemalloc" in pa.supported_memory_backends() else None
    assert chosen.backend_name == (expected or pa.default_memory_pool().backend_name)
    buffer = pa.allocate_buffer(8 * 1024 * 1024, memory_pool=chosen)
    assert chosen.bytes_allocated() >= buffer.size
    del buffer
    memory.release()  # gives the free pages back; the pool stays usable
    assert pa.allocate_buffer(1024, memory_pool=chosen).size == 1024


def test_a_pool_chosen_with_arrow_default_memory_pool_is_kept(monkeypatch) -> None:
    """``ARROW_DEFAULT_MEMORY_POOL`` (read by pyarrow when it loads) names the pool the process
    wants, e.g. ``system`` under ``RLIMIT_AS``: the engine then allocates from the default pool."""
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
    memory.pool.cache_clear()
    try:
        assert memory.pool().backend_name == pa.default_memory_pool().backend_name
    finally:
        memory.pool.cache_clear()


def test_the_pool_is_released_once_the_last_write_has_been_idle_a_while(monkeypatch) -> None:
    """Back-to-back writes reuse the pool's pages; they go back to the system only after
    ``RELEASE_AFTER_S`` without any write (a write starting meanwhile cancels the release)."""
    released: list[float] = []
    real = memory.release
    monkeypatch.setattr(memory, "release", lambda: (released.append(time.monotonic()), real()))
    idle = 1.0  # long enough that a loaded machine's scheduling delays stay well inside it
    monkeypatch.setattr(memory, "RELEASE_AFTER_S", idle)
    with memory.in_use(), memory.in_use():
        pass
    with memory.in_use():  # within `idle` of the last: the pending release is cancelled
        time.sleep(idle * 1.2)
        assert released == []
    ended = time.monotonic()
    deadline = ended + 10
    while not released and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(released) == 1 and released[0] - ended >= idle
    time.sleep(idle * 1.2)
    assert len(released) == 1  # one release per idle period


def test_dictionary_encoding_follows_parquet_mr_fallback_test() -> None:
    batch = sample_table(20_000).select(["id", "small", "amount", "ratio", "day", "at", "note", "tag"])
    chosen = parquet.dictionary_columns(batch, 1024 * 1024)
    assert chosen == ["small", "day", "tag"]  # few distinct values; ids, amounts, instants, text: plain
    assert parquet.dictionary_columns(sample_table(10), 1024 * 1024) is True  # nested


def test_the_dictionary_test_looks_at_the_first_page_not_the_first_batch() -> None:
    """parquet-mr decides on a column's first page (1 MiB): 100 distinct int32 ids repeated over
    262,144 values (one page) pay for a dictionary though the first 100 values are all distinct."""
    ids = pa.table({"customer": pa.array([i % 100 for i in range(300_000)], pa.int32())})
    assert parquet.dictionary_columns(ids, 1024 * 1024) == ["customer"]
    assert parquet.dictionary_columns(ids.slice(0, 100), 1024 * 1024) == []  # a page of 100 distinct
