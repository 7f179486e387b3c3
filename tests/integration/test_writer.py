"""The write path end to end (write + publish) for every format x compression x split combination.

Each output is read back with an independent reader and compared, row by row and in order, to
the source; archives are checked with ``gzip -t``, ``unzip -t`` and ``zstd -t``.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from fabgen_runtime.engines.spark import publish, writer
from fabgen_runtime.errors import CompressionError, ConfigError, WriteError
from writer_support import (
    COLUMNS,
    csv_text,
    decompress,
    files_dir,
    json_record,
    make_plan,
    read_csv,
    read_json_lines,
    read_parquet,
    source_df,
    source_rows,
    staging_dir,
    tar_members,
    unique_lakehouse,
    zip_members,
)

pytestmark = pytest.mark.jvm

ROWS = 2000
SPLIT = 700  # 3 parts (700, 700, 600) crossing the source's 3 partition boundaries
STEM = "orders_20251212"
TEXT_CODECS = ["none", "gzip", "zip", "zipdeflate", "zstd", "brotli"]
PARQUET_CODECS = [None, "none", "snappy", "lz4", "gzip", "zstd"]
SUFFIX = {"gzip": ".gz", "zstd": ".zst", "brotli": ".br"}


@pytest.fixture(scope="module")
def source(spark):
    df = source_df(spark, ROWS)
    assert df.rdd.getNumPartitions() == 3
    return df


def run_export(df, platform, **changes):
    plan = make_plan(unique_lakehouse(), trigger_file_pattern="orders_{run_date:%Y%m%d}.done", **changes)
    staged = writer.write(df, plan, platform)
    published = publish.publish(staged, plan, platform)
    return plan, staged, published


def expected_names(file_format: str, codec: str, split: bool) -> list[str]:
    ext = file_format
    if codec in ("none", "snappy", "lz4") or file_format == "parquet":
        if split:
            return [f"{STEM}_part{n:04d}.{ext}" for n in (1, 2, 3)]
        return [f"{STEM}.{ext}"]
    if codec in ("zip", "zipdeflate"):
        return [f"{STEM}.zip"]
    if split:
        return [f"{STEM}.tar{SUFFIX[codec]}"]
    return [f"{STEM}.{ext}{SUFFIX[codec]}"]


def data_files(directory, file_format: str, codec: str, split: bool) -> list[tuple[str, bytes]]:
    """(name, bytes) of each data file, unpacked from whatever archive or stream holds it."""
    names = expected_names(file_format, codec, split)
    part_names = (
        [f"{STEM}_part{n:04d}.{file_format}" for n in (1, 2, 3)] if split else [f"{STEM}.{file_format}"]
    )
    if codec in ("none",) or (len(names) == len(part_names) and names == part_names):
        return [(name, (directory / name).read_bytes()) for name in names]
    path = directory / names[0]
    if codec in ("zip", "zipdeflate"):
        members = zip_members(path)
    else:
        data = decompress(path, codec)
        members = tar_members(data) if split else {part_names[0]: data}
    assert list(members) == part_names
    return list(members.items())


def check_text_parts(file_format: str, parts: list[tuple[str, bytes]], split: bool) -> None:
    rows = source_rows(ROWS)
    sizes = [SPLIT, SPLIT, ROWS - 2 * SPLIT] if split else [ROWS]
    start = 0
    for (_name, data), size in zip(parts, sizes, strict=True):
        expected = rows[start : start + size]
        start += size
        if file_format == "csv":
            read = read_csv(data)
            assert read[0] == COLUMNS  # the header, once
            assert read[1:] == [csv_text(r) for r in expected]
        else:
            assert read_json_lines(data) == [json_record(r) for r in expected]


@pytest.mark.parametrize("split", [False, True], ids=["single", "split"])
@pytest.mark.parametrize("codec", TEXT_CODECS)
@pytest.mark.parametrize("file_format", ["csv", "json"])
def test_text_formats(source, local_platform, file_format: str, codec: str, split: bool) -> None:
    plan, staged, published = run_export(
        source,
        local_platform,
        file_format=file_format,
        compression=None if codec == "none" else codec,
        max_rows_per_file=SPLIT if split else None,
    )
    directory = files_dir(local_platform, plan)
    names = expected_names(file_format, codec, split)
    assert sorted(p.name for p in directory.iterdir()) == sorted([*names, f"{STEM}.done"])
    assert published.rows == staged.rows == ROWS
    assert published.files == len(names)
    assert published.total_bytes == sum((directory / n).stat().st_size for n in names)
    assert published.part_rows == ((SPLIT, SPLIT, ROWS - 2 * SPLIT) if split else (ROWS,))
    assert (directory / f"{STEM}.done").stat().st_size == 0
    assert not staging_dir(local_platform, plan).exists()
    assert_digests(staged, directory)
    check_text_parts(file_format, data_files(directory, file_format, codec, split), split)


def assert_digests(staged, directory) -> None:
    """The SHA-256 the writer recorded for the manifest is the published file's."""
    assert staged.files
    for item in staged.files:
        assert item.sha256 == hashlib.sha256((directory / item.name).read_bytes()).hexdigest(), item.name


@pytest.mark.parametrize("split", [False, True], ids=["single", "split"])
@pytest.mark.parametrize("codec", PARQUET_CODECS)
def test_parquet(source, local_platform, codec: str | None, split: bool) -> None:
    import pyarrow.parquet as pq

    plan, staged, published = run_export(
        source,
        local_platform,
        file_format="parquet",
        compression=codec,
        max_rows_per_file=SPLIT if split else None,
    )
    directory = files_dir(local_platform, plan)
    names = expected_names("parquet", codec or "snappy", split)
    assert sorted(p.name for p in directory.iterdir()) == sorted([*names, f"{STEM}.done"])
    assert_digests(staged, directory)
    rows = source_rows(ROWS)
    sizes = [SPLIT, SPLIT, ROWS - 2 * SPLIT] if split else [ROWS]
    start = 0
    # pyarrow names LZ4_RAW "LZ4" (and the deprecated Hadoop framing "LZ4_HADOOP").
    embedded = {
        "none": "UNCOMPRESSED",
        None: "SNAPPY",
        "snappy": "SNAPPY",
        "lz4": "LZ4",
        "gzip": "GZIP",
        "zstd": "ZSTD",
    }[codec]
    for name, size in zip(names, sizes, strict=True):
        assert read_parquet(directory / name) == rows[start : start + size]
        start += size
        assert pq.ParquetFile(directory / name).metadata.row_group(0).column(0).compression == embedded
    assert published.rows == ROWS


@pytest.mark.parametrize(("codec", "split"), [("zip", False), ("zstd", False), ("gzip", True), ("zip", True)])
def test_many_compressed_ranges_per_part(
    source, local_platform, monkeypatch, codec: str, split: bool
) -> None:
    """Parts are cut into ranges compressed in parallel; small ranges make every part span several."""
    from fabgen_runtime.engines.spark import pieces

    monkeypatch.setattr(pieces, "RANGE_BYTES", 10_000)
    plan, _staged, _published = run_export(
        source, local_platform, compression=codec, max_rows_per_file=SPLIT if split else None
    )
    directory = files_dir(local_platform, plan)
    check_text_parts("csv", data_files(directory, "csv", codec, split), split)


def test_gzip_level_without_hadoop_level_support_uses_pieces(source, local_platform, monkeypatch) -> None:
    """Where Hadoop's gzip ignores the level (Spark 3.5 without native zlib), members are built JVM side."""
    from fabgen_runtime.engines.spark import codecs

    monkeypatch.setattr(codecs, "hadoop_gzip_honours_level", lambda spark, level: False)
    plan, _staged, _published = run_export(source, local_platform, compression="gzip", compression_level=1)
    directory = files_dir(local_platform, plan)
    check_text_parts("csv", data_files(directory, "csv", "gzip", False), False)


def test_parquet_brotli_without_codec_fails_before_writing(source, local_platform) -> None:
    plan = make_plan(unique_lakehouse(), file_format="parquet", compression="brotli")
    with pytest.raises(CompressionError, match="brotli"):
        writer.write(source, plan, local_platform)
    assert not staging_dir(local_platform, plan).exists()


def test_csv_options_pass_through(source, local_platform) -> None:
    options = {
        "sep": ";",
        "lineSep": "\r\n",
        "quoteAll": "true",
        "nullValue": "NULL",
        "emptyValue": "<empty>",
        "timestampFormat": "yyyy-MM-dd HH:mm:ss.SSSSSS",
        "dateFormat": "dd/MM/yyyy",
    }
    plan, _staged, _published = run_export(
        source, local_platform, file_format_options=options, max_rows_per_file=SPLIT
    )
    directory = files_dir(local_platform, plan)
    for number, start in ((1, 0), (3, 2 * SPLIT)):
        data = (directory / f"{STEM}_part{number:04d}.csv").read_bytes()
        assert data.startswith(b'"id";"qty";"amount";"order_date";"updated_at";"note"\r\n')
        assert data.count(b'"id";"qty"') == 1
        assert data.endswith(b"\r\n")
        read = read_csv(data, sep=";")
        first = source_rows(ROWS)[start]
        id_, _qty, _amount, day, moment, _note = first
        assert read[1][0] == str(id_)
        assert read[1][3] == ("NULL" if day is None else day.strftime("%d/%m/%Y"))
        assert read[1][4] == moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    rows = read_csv((directory / f"{STEM}_part0001.csv").read_bytes(), sep=";")[1:]
    notes = [r[5] for r in rows]
    assert "NULL" in notes and "<empty>" in notes and "  both  " in notes
    # Line breaks inside values leave as stored, whatever the lineSep (engines/spark/exact_values.py).
    assert "line1\nline2" in notes and "crlf\r\nend" in notes


def test_csv_without_header_and_custom_part_pattern(source, local_platform) -> None:
    plan, _staged, _published = run_export(
        source,
        local_platform,
        target_filename_pattern="orders_{part:03d}_{run_date:%Y%m%d}.csv",
        file_format_options={"header": "false"},
        max_rows_per_file=1500,
    )
    directory = files_dir(local_platform, plan)
    first = read_csv((directory / "orders_001_20251212.csv").read_bytes())
    second = read_csv((directory / "orders_002_20251212.csv").read_bytes())
    assert first + second == [csv_text(r) for r in source_rows(ROWS)]


def test_json_keeps_nulls_and_honours_line_separator(source, local_platform) -> None:
    plan, _staged, _published = run_export(
        source, local_platform, file_format="json", file_format_options={"lineSep": "\r\n"}
    )
    data = (files_dir(local_platform, plan) / f"{STEM}.json").read_bytes()
    lines = data.split(b"\r\n")
    assert lines[-1] == b"" and len(lines) == ROWS + 1
    assert b'"qty":null' in data and b'"note":null' in data


def test_compressed_filename_pattern_and_levels(source, local_platform) -> None:
    sizes = {}
    for level in (1, 9):
        plan, _staged, _published = run_export(
            source,
            local_platform,
            compression="gzip",
            compression_level=level,
            compressed_filename_pattern=f"A0_ORDERS_L{level}_{{run_date:%Y%m%d}}.gz",
        )
        path = files_dir(local_platform, plan) / f"A0_ORDERS_L{level}_20251212.gz"
        sizes[level] = path.stat().st_size
        assert read_csv(decompress(path, "gzip"))[1:] == [csv_text(r) for r in source_rows(ROWS)]
    assert sizes[9] < sizes[1]
    zip_sizes = {}
    for level in (0, 9):
        plan, _staged, _published = run_export(
            source, local_platform, compression="zip", compression_level=level
        )
        zip_sizes[level] = (files_dir(local_platform, plan) / f"{STEM}.zip").stat().st_size
    assert zip_sizes[9] < zip_sizes[0]


@pytest.mark.parametrize("split", [False, True], ids=["single", "split"])
def test_empty_source_gives_header_only_file(spark, local_platform, split: bool) -> None:
    empty = source_df(spark, ROWS).limit(0)
    plan, staged, _published = run_export(
        empty, local_platform, compression="zip", max_rows_per_file=SPLIT if split else None
    )
    name = f"{STEM}_part0001.csv" if split else f"{STEM}.csv"
    members = zip_members(files_dir(local_platform, plan) / f"{STEM}.zip")
    assert members == {name: b"id,qty,amount,order_date,updated_at,note\n"}
    assert staged.rows == 0 and staged.part_rows == (0,)


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("updated_at", "2025-01-01T20:32:43.790543"),
        ("order_date", "2026-02-04"),
        ("amount", "246776.55"),
        ("id", "2000"),
        ("note", "ünïcødé 日本語 ✓"),
    ],
)
@pytest.mark.parametrize("split", [False, True], ids=["single", "split"])
def test_incremental_watermark_observed_in_the_same_pass(
    source, local_platform, column, expected, split
) -> None:
    plan = make_plan(
        unique_lakehouse(),
        extract_type="incremental",
        incremental_column=column,
        max_rows_per_file=SPLIT if split else None,
    )
    staged = writer.write(source, plan, local_platform)
    assert staged.max_watermark == expected
    assert staged.rows == ROWS
    # NULLs in the incremental column, counted in the same pass (never exported incrementally).
    nulls = sum(1 for row in source_rows(ROWS) if row[COLUMNS.index(column)] is None)
    assert staged.null_watermark_rows == nulls
    assert nulls > 0 or column in ("updated_at", "id")
    publish.discard(plan, local_platform)


def test_watermark_is_none_without_rows(spark, local_platform) -> None:
    plan = make_plan(unique_lakehouse(), extract_type="incremental", incremental_column="updated_at")
    staged = writer.write(source_df(spark, 10).limit(0), plan, local_platform)
    assert staged.max_watermark is None and staged.rows == 0
    publish.discard(plan, local_platform)


def test_unknown_incremental_column_and_reserved_option_fail_before_writing(source, local_platform) -> None:
    plan = make_plan(unique_lakehouse(), extract_type="incremental", incremental_column="missing")
    with pytest.raises(WriteError, match="missing"):
        writer.write(source, plan, local_platform)
    with pytest.raises(ConfigError, match="compression is set by fabgen"):  # validate refuses it first
        make_plan(unique_lakehouse(), file_format_options={"compression": "gzip"})
    plan = make_plan(unique_lakehouse())
    plan = replace(plan, output=replace(plan.output, writer_options={"compression": "gzip"}))
    with pytest.raises(WriteError, match="compression"):  # and the writer again
        writer.write(source, plan, local_platform)
    assert not staging_dir(local_platform, plan).exists()


@pytest.mark.parametrize("split", [False, True], ids=["single", "split"])
def test_null_incremental_values_are_counted_then_dropped_when_a_watermark_filters(
    source, local_platform, split
) -> None:
    # With a watermark the read is `qty > wm OR qty IS NULL`: the writer counts the NULLs in its one
    # pass and leaves them out, also on the to_csv path a lineSep of CRLF takes and when splitting.
    plan = make_plan(
        unique_lakehouse(),
        watermark="-1000",
        extract_type="incremental",
        incremental_column="qty",
        file_format_options={"lineSep": "\r\n"},
        max_rows_per_file=SPLIT if split else None,
    )
    assert plan.source.drops_null_incremental
    staged = writer.write(source, plan, local_platform)
    publish.publish(staged, plan, local_platform)
    expected = [r for r in source_rows(ROWS) if r[1] is not None]
    assert staged.null_watermark_rows == ROWS - len(expected) > 0
    assert staged.rows == len(expected) and sum(staged.part_rows) == len(expected)
    assert staged.max_watermark == str(max(r[1] for r in expected))
    read = []
    for path in sorted(files_dir(local_platform, plan).glob("*.csv")):
        data = path.read_bytes()
        assert data.endswith(b"\r\n")
        read += read_csv(data)[1:]
    assert len(staged.files) == (3 if split else 1)
    assert read == [csv_text(r) for r in expected]
