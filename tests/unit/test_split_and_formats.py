"""Part numbering (split.py) and format option defaults (formats/)."""

from __future__ import annotations

import pytest
from fabgen_runtime import formats, split
from fabgen_runtime.errors import WriteError


@pytest.mark.parametrize(
    ("rows", "max_rows", "expected"),
    [
        (0, 10, [0]),
        (1, 10, [1]),
        (10, 10, [10]),
        (11, 10, [10, 1]),
        (25, 10, [10, 10, 5]),
        (5_000_000, 1_000_000, [1_000_000] * 5),
    ],
)
def test_part_rows(rows: int, max_rows: int, expected: list[int]) -> None:
    assert split.part_rows(rows, max_rows) == expected
    assert split.part_count(rows, max_rows) == len(expected)


def test_partition_offsets_skip_empty_and_missing_partitions() -> None:
    counts = {0: 7, 1: 0, 2: 13, 4: 5}  # partition 3 had no rows at all
    assert split.partition_offsets(counts, 5) == [0, 7, 7, 20, 20]


def test_index_mask_matches_monotonic_id_layout() -> None:
    partition, index = 5, 123_456
    monotonic = (partition << split.INDEX_BITS) + index
    assert monotonic & split.INDEX_MASK == index


def test_csv_defaults_keep_data_intact_and_user_wins() -> None:
    csv = formats.get("csv")
    options = csv.options({"Header": "false", "sep": "|"})
    assert options["ignoreLeadingWhiteSpace"] == "false"
    assert options["ignoreTrailingWhiteSpace"] == "false"
    assert options["escape"] == '"'
    assert "header" not in options and options["Header"] == "false"  # case-insensitive override
    assert options["sep"] == "|"
    assert not csv.header(options)
    assert csv.header(csv.options({}))
    assert formats.get("json").options({})["ignoreNullFields"] == "false"
    assert formats.get("json").options({"timestampFormat": "yyyy"})["timestampFormat"] == "yyyy"


def test_reserved_options_and_bom_encodings_are_rejected() -> None:
    with pytest.raises(WriteError, match="compression"):
        formats.get("csv").options({"compression": "gzip"}, "g/e")
    with pytest.raises(WriteError, match="byte order mark"):
        formats.get("csv").options({"encoding": "UTF-16"}, "g/e")
    assert formats.get("csv").options({"encoding": "UTF-16LE"})["encoding"] == "UTF-16LE"
    with pytest.raises(WriteError, match="unknown file format"):
        formats.get("xml")


def test_render_watermark_is_lossless_text() -> None:
    from decimal import Decimal

    from fabgen_runtime.staged import render_watermark

    assert render_watermark(None) is None
    assert render_watermark("2025-01-31T12:00:00.000000", "timestamp") == "2025-01-31T12:00:00"
    assert render_watermark("2025-01-31T12:00:00.120000", "timestamp") == "2025-01-31T12:00:00.12"
    assert render_watermark("2025-01-31", "date") == "2025-01-31"
    assert render_watermark(Decimal("1E+3")) == "1000"
    assert render_watermark(Decimal("12345.670")) == "12345.670"
    assert render_watermark(0.1) == "0.1"
    assert render_watermark(12345678901234) == "12345678901234"
