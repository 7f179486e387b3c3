"""Parquet files of the Python engine: parquet-mr's options, row groups encoded in parallel.

pyarrow's parquet writer encodes and compresses on the calling thread, one row group after the
other. :class:`ParquetFile` buffers record batches until a row group is full, then encodes it as
a complete parquet file in memory on a thread pool (``write_table`` releases the GIL) while the
next row group is read, and appends each one's pages to the output in order; the footer joining
their row groups is written last (:mod:`.parquet_footer`). The result is byte for byte the file
one ``pyarrow.parquet.ParquetWriter`` writes from the same row groups. At most
:func:`threads` row groups are being encoded, one more queued and one buffered; the reader waits
only when all of those are taken. A row group is full at
``parquet.block.size`` bytes of buffered Arrow data (parquet-mr's option, 128 MiB by default) or
at :data:`ROW_GROUP_ROWS` rows, Arrow's own default row-group length, whichever comes first. The
file's size and SHA-256 are taken as its bytes are written (:class:`.sinks.Hashed`), so the
manifest needs no second read of the file.

Dictionary encoding (``parquet.enable.dictionary``, on by default) is chosen per column the way
parquet-mr falls back from it: parquet-mr keeps a column's dictionary only while the dictionary
plus the indexes are smaller than the plain values of its first page
(``DictionaryValuesWriter.isCompressionSatisfying``); Arrow's writer has no such check and keeps
building a dictionary until it reaches 1 MiB, which for columns of mostly distinct values (ids,
timestamps, free text) costs time and makes the file larger. :func:`dictionary_columns` applies
parquet-mr's test to the first page's worth of the file's first row group.
"""

from __future__ import annotations

import collections
import logging
import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import memory, parquet_footer, sinks

log = logging.getLogger(__name__)

#: fabgen's codec names as pyarrow's parquet writer names them
CODECS = {
    "none": "NONE",
    "snappy": "SNAPPY",
    "gzip": "GZIP",
    "zstd": "ZSTD",
    "brotli": "BROTLI",
    "lz4": "LZ4",
}
#: rows per row group at most (Arrow C++'s ``DEFAULT_MAX_ROW_GROUP_LENGTH``; 16 batches of the reader's 64 Ki)
ROW_GROUP_ROWS = 1024 * 1024
LEVELLED = ("gzip", "zstd", "brotli")  # codecs whose level the writer passes on
SIZE_SAMPLE = 64 * 1024  # values whose plain size gives a column's average (dictionary test)
MAX_THREADS = 8  # row groups encoded at once at most (each holds up to parquet.block.size of rows)
#: room for a row group's encoded file: its Arrow bytes times this, plus :data:`ENCODED_SLACK`
ENCODED_RATIO = 1.25
ENCODED_SLACK = 4 * 1024 * 1024


def threads() -> int:
    """Row groups encoded at once: the machine's cores, at most :data:`MAX_THREADS`."""
    return min(MAX_THREADS, sinks.workers())


@dataclass(frozen=True)
class ParquetOptions:
    """The parquet writer options fabgen accepts (``writer_options``), with parquet-mr's defaults."""

    block_size: int = 128 * 1024 * 1024  # bytes of buffered rows per row group
    page_size: int = 1024 * 1024
    dictionary: bool = True


def parquet_options(options: dict[str, str]) -> ParquetOptions:
    """``parquet.block.size``, ``parquet.page.size`` and ``parquet.enable.dictionary`` (checked by
    :mod:`fabgen_runtime.writer_options` already)."""
    lowered = {k.lower(): v for k, v in options.items()}
    defaults = ParquetOptions()
    return ParquetOptions(
        block_size=int(lowered.get("parquet.block.size", defaults.block_size)),
        page_size=int(lowered.get("parquet.page.size", defaults.page_size)),
        dictionary=str(lowered.get("parquet.enable.dictionary", "true")).strip().lower() == "true",
    )


def _plain_bytes(column: pa.ChunkedArray, values: int) -> float:
    """Bytes of the column's non-null values in parquet's PLAIN encoding (approximately)."""
    kind = column.type
    if pa.types.is_decimal(kind):  # FIXED_LEN_BYTE_ARRAY of the precision's minimal width
        return float(values * math.ceil((int(kind.precision) * math.log2(10) + 1) / 8))
    if pa.types.is_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_string(kind):
        data = pc.sum(pc.binary_length(column)).as_py() or 0
        return float(data + 4 * values)  # 4-byte length before each value
    return float(values * int(kind.bit_width) / 8)


def dictionary_columns(rows: pa.Table, page_size: int) -> list[str] | bool:
    """The columns that get dictionary encoding: those whose dictionary plus indexes would be
    smaller than their plain values over the first ``page_size`` bytes of ``rows`` (parquet-mr's
    fallback test on a column's first page; see the module docstring). ``True`` (every column)
    when the schema has nested columns, whose leaves this test does not name."""
    if any(pa.types.is_nested(f.type) for f in rows.schema):
        return True
    chosen = []
    for name in rows.schema.names:
        whole = rows.column(name)
        head = whole.slice(0, SIZE_SAMPLE)  # the average value size, from the first values only
        values = len(head) - head.null_count
        if values == 0 or pa.types.is_boolean(whole.type):
            chosen.append(name)
            continue
        per_value = _plain_bytes(head, values) / values
        page = whole.slice(0, max(1, int(page_size / per_value)))  # the first page's worth
        values = len(page) - page.null_count
        distinct = len(pc.unique(page)) - (1 if page.null_count else 0)
        indexes = values * max(1, math.ceil(math.log2(max(distinct, 2)))) / 8
        if values == 0 or indexes + per_value * distinct < per_value * values:
            chosen.append(name)
    return chosen


class ParquetFile:
    """One new parquet file at ``path``, its row groups encoded in parallel (see the module docstring).

    A failure of an encoding thread is raised by a later :meth:`write` or by :meth:`close`.
    """

    def __init__(
        self,
        path: str,
        schema: pa.Schema,
        codec: str,
        level: int | None,
        options: ParquetOptions,
        digests: sinks.Digests,
    ):
        self.options = options
        self.schema = schema
        self.settings: dict[str, Any] = {
            "compression": CODECS[codec],
            "compression_level": level if codec in LEVELLED else None,
            "data_page_size": options.page_size,
        }
        #: the columns with a dictionary, chosen from the first row group by the thread encoding it
        self.dictionary: Future[list[str] | bool] = Future()
        self.sink = sinks.Hashed(path, digests)
        self.sink.write(parquet_footer.MAGIC)
        self.threads = threads()
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="fabgen-parquet")
        self.memory = memory.pool()
        self.spare: list[pa.Buffer] = []  # output buffers whose pages are written: reused
        self.encoding: collections.deque[Future[tuple[parquet_footer.Encoded, pa.Buffer | None]]] = (
            collections.deque()
        )
        self.parts: list[tuple[parquet_footer.Encoded, int]] = []  # footers and where their pages went
        self.buffered: list[pa.RecordBatch] = []
        self.buffered_bytes = 0
        self.buffered_rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        """Buffer ``batch``; a full row group goes to the encoding threads."""
        self.buffered.append(batch)
        self.buffered_bytes += batch.nbytes
        self.buffered_rows += batch.num_rows
        if self.buffered_bytes >= self.options.block_size or self.buffered_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.buffered:
            return
        table = pa.Table.from_batches(self.buffered)
        self.buffered, self.buffered_bytes, self.buffered_rows = [], 0, 0
        first = not self.parts and not self.encoding
        self.encoding.append(self.pool.submit(self._encode, table, self._buffer(table), first))
        # Row groups are written in order as soon as they are encoded. The reader goes on while a
        # thread is free or one row group is queued (at most threads + 1 row groups held).
        while self.encoding and (self.encoding[0].done() or len(self.encoding) > self.threads):
            self._append(*self.encoding.popleft().result())

    def _buffer(self, table: pa.Table) -> pa.Buffer:
        """An output buffer with room for ``table`` encoded: a spare one if it is large enough (one
        too small is dropped), else a new one an eighth larger, so that later row groups of about
        the same size fit in it."""
        room = int(table.nbytes * ENCODED_RATIO) + ENCODED_SLACK
        while self.spare:
            spare = self.spare.pop()
            if spare.size >= room:
                return spare
        return pa.allocate_buffer(room + room // 8, memory_pool=self.memory)

    def _encode(
        self, table: pa.Table | None, buffer: pa.Buffer | None, first: bool = False
    ) -> tuple[parquet_footer.Encoded, pa.Buffer | None]:
        """``table`` as one parquet file in memory (no row group for None), cut apart; written into
        ``buffer`` (no growing by re-allocation), or into a growing buffer when it does not fit.
        The ``first`` row group's thread chooses the dictionary columns."""
        if first and table is not None:
            self._choose_dictionary(table)
        if buffer is not None:
            out = pa.FixedSizeBufferWriter(buffer)
            try:
                self._write_file(out, table)
            except OSError:  # the encoded row group is larger than the buffer: rare, encoded again
                log.debug("a row group of %s outgrew its %d-byte buffer", self.sink.path, buffer.size)
            else:
                return parquet_footer.split(memoryview(buffer)[: out.tell()]), buffer
        grown = pa.BufferOutputStream()
        self._write_file(grown, table)
        return parquet_footer.split(grown.getvalue()), None

    def _choose_dictionary(self, table: pa.Table) -> None:
        try:
            page_size = self.options.page_size
            self.dictionary.set_result(self.options.dictionary and dictionary_columns(table, page_size))
        except BaseException as exc:  # the other threads' row groups fail with it
            self.dictionary.set_exception(exc)
            raise

    def _write_file(self, out: pa.NativeFile, table: pa.Table | None) -> None:
        dictionary = self.dictionary.result() if table is not None else self.options.dictionary
        with pq.ParquetWriter(
            out, self.schema, use_dictionary=dictionary, memory_pool=self.memory, **self.settings
        ) as writer:
            if table is not None:
                writer.write_table(table, row_group_size=table.num_rows)

    def _append(self, encoded: parquet_footer.Encoded, buffer: pa.Buffer | None) -> None:
        self.parts.append((encoded, self.sink.tell()))
        self.sink.write(encoded.pages)
        encoded.pages = memoryview(b"")  # written: keep the footer only
        if buffer is not None:
            self.spare.append(buffer)

    def close(self, complete: bool = True) -> None:
        """Write the last row group and the footer (``complete=False``: a failure; nothing more is
        written and the file is left for the caller to discard) and close the file."""
        try:
            if complete:
                self._flush()
                while self.encoding:
                    self._append(*self.encoding.popleft().result())
                if not self.parts:  # no rows: the schema alone
                    self._append(*self._encode(None, None))
                self.sink.write(parquet_footer.joined_footer(self.parts))
        finally:
            for future in self.encoding:
                future.cancel()
            self.dictionary.cancel()  # a thread waiting for a cancelled first row group stops
            self.encoding.clear()
            self.buffered = []
            self.pool.shutdown(wait=True)
            self.spare = []
            self.sink.close()
