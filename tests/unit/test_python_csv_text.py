"""The Python engine's csv text fast paths (Arrow's csv writer, slice-based timestamps, skipped
quoting checks) give the same bytes as the element-wise route they shortcut."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fabgen_runtime.engines.python import values

EXPORT = "sales.orders"


def _batch(notes: list[str | None]) -> pa.RecordBatch:
    n = len(notes)
    return pa.record_batch(
        [
            pa.array(range(n), pa.int64()),
            pa.array([Decimal("1.50")] * (n - 1) + [None], pa.decimal128(18, 2)),
            pa.array([date(1, 1, 1)] + [date(2024, 2, 29)] * (n - 1), pa.date32()),
            pa.array(
                [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]
                + [datetime(2024, 2, 29, 1, 2, 3, 4, tzinfo=UTC)] * (n - 2),
                pa.timestamp("us", tz="UTC"),
            ),
            pa.array([datetime(1999, 1, 2, 3, 4, 5)] * n, pa.timestamp("us")),
            pa.array(notes, pa.string()),
        ],
        names=["id", "amount", "day", "at", "local", "note"],
    )


def _element_wise(batch: pa.RecordBatch, options: values.TextOptions) -> bytes:
    """The lines joined element-wise (the route taken when Arrow's writer refuses a field)."""
    fields = [
        values._csv_field(values.column_text(c, options, EXPORT, n), options, values._is_string(c.type))
        for n, c in zip(batch.schema.names, batch.columns, strict=True)
    ]
    ended = pc.binary_join_element_wise(
        fields[-1], pa.scalar(options.line_sep, values.TEXT), pa.scalar("", values.TEXT)
    )
    line = pc.binary_join_element_wise(*fields[:-1], ended, pa.scalar(options.sep, values.TEXT))
    return values._concat_bytes(line)


@pytest.mark.parametrize(
    "notes",
    [
        ["plain", "text", "ünïcode", "x"],  # nothing to quote: Arrow's writer
        ["a,b", 'say "hi"', "two\nlines", "x"],  # quoted: element-wise
        ["", None, "x", "y"],  # emptyValue and nullValue
    ],
)
@pytest.mark.parametrize("options", [{}, {"sep": ";", "lineSep": "\r\n", "nullValue": "NULL"}])
def test_csv_lines_match_the_element_wise_join(notes: list[str | None], options: dict[str, str]) -> None:
    text = values.text_options("csv", options, EXPORT)
    batch = _batch(notes)
    assert values.csv_lines(batch, text, EXPORT) == _element_wise(batch, text)


def test_csv_lines_are_spark_text() -> None:
    batch = _batch(["plain", "a,b", "", None])
    lines = values.csv_lines(batch, values.text_options("csv", {}, EXPORT), EXPORT).decode().splitlines()
    assert lines == [
        "0,1.50,0001-01-01,0001-01-01T00:00:00.000000Z,1999-01-02T03:04:05.000000,plain",
        '1,1.50,2024-02-29,9999-12-31T23:59:59.999999Z,1999-01-02T03:04:05.000000,"a,b"',
        '2,1.50,2024-02-29,2024-02-29T01:02:03.000004Z,1999-01-02T03:04:05.000000,""',
        "3,,2024-02-29,2024-02-29T01:02:03.000004Z,1999-01-02T03:04:05.000000,",
    ]
