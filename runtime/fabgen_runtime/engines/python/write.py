"""Write a ``pyarrow.RecordBatchReader`` into the run's staging folder, as the Spark writer would.

:func:`write` is the Python engine's :func:`fabgen_runtime.engines.spark.writer.write`: the same file names
(``OutputPlan``), split parts (every part but the last holds exactly ``max_rows_per_file`` rows,
one header-only part when there are no rows), codecs, csv header and options, JSON Lines and
parquet, and the same :class:`~fabgen_runtime.engines.spark.writer.StagedOutput`, so
:func:`fabgen_runtime.publish.build_journal` and :mod:`fabgen_runtime.protocol` publish it
unchanged (with :class:`~fabgen_runtime.protocol.store.LocalFileStore`).

One pass over the batches: each batch is counted (rows, NULLs of the incremental column, its
max: the metrics of :mod:`fabgen_runtime.engines.spark.metrics`), filtered (NULL incremental values read only
to be counted), encoded (:mod:`.values`) and written into its sink (:mod:`.sinks`); memory holds
one batch at a time. Files land in ``<staging>/out/<name>`` as the Spark writer's do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from ... import compression, formats, split
from ... import platform as platform_mod
from ...errors import CompressionError, FabgenError, WriteError
from ...protocol.journal import MARKER
from ...protocol.store import FileStore, LocalFileStore, join
from ...publish import staging_uri
from ...staged import StagedFile, StagedOutput, render_watermark
from . import compressors, memory, sinks, values
from . import parquet as parquet_files
from .onelake import Uploads

if TYPE_CHECKING:
    from ...plan import ExportPlan

log = logging.getLogger(__name__)


@dataclass
class _Metrics:
    """Counted while the batches pass: rows written, NULL incremental values, the max."""

    column: str | None = None  # the incremental column's name in the batches
    drop_nulls: bool = False
    rows: int = 0
    nulls: int = 0
    best: Any = None
    kind: str = "value"

    def take(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Count ``batch`` and return the rows to write."""
        if self.column is None:
            self.rows += batch.num_rows
            return batch
        values_ = batch.column(self.column)
        self.nulls += values_.null_count
        top = pc.max(values_).as_py()
        if top is not None and (self.best is None or top > self.best):
            self.best = top
        if self.drop_nulls and values_.null_count:
            batch = batch.filter(pc.is_valid(values_))
        self.rows += batch.num_rows
        return batch

    def watermark(self) -> str | None:
        """``max(incremental_column)`` as :func:`fabgen_runtime.staged.render_watermark` text."""
        value = self.best
        if value is None:
            return None
        if isinstance(value, datetime):
            moment = value.astimezone(platform_tz()) if value.tzinfo else value
            return render_watermark(f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S.%f}", "timestamp")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return render_watermark(value)
        return render_watermark(value, self.kind)


def platform_tz() -> Any:
    """The zone timestamps are rendered in for the watermark (the Spark engine's session zone)."""
    from zoneinfo import ZoneInfo

    from .read import SESSION_TIMEZONE

    return ZoneInfo(SESSION_TIMEZONE)


@dataclass
class _Job:
    plan: ExportPlan
    fmt: formats.FileFormat
    codec: compression.Codec
    level: int | None
    staging: str
    text: values.TextOptions | None
    metrics: _Metrics
    schema: pa.Schema
    parquet: parquet_files.ParquetOptions
    made: list[tuple[str, str, int]] = field(default_factory=list)  # (name, path, rows)
    digests: sinks.Digests = field(default_factory=dict)  # size and SHA-256 taken while writing

    @property
    def export(self) -> str:
        return self.plan.config.key

    def out(self, name: str) -> str:
        return join(self.staging, "out", name)


def write(
    reader: pa.RecordBatchReader,
    plan: ExportPlan,
    platform: platform_mod.Platform | None = None,
    store: FileStore | None = None,
) -> StagedOutput:
    """Write the reader's rows into ``plan.output.staging_directory`` as the files the plan names.

    Raises ``WriteError`` / ``CompressionError`` naming the export; options this engine cannot
    honour are refused before any file is written.
    """
    platform = platform or platform_mod.current()
    out = plan.output
    export = plan.config.key
    fmt = formats.get(out.file_format, export)
    codec = compression.get(out.compression, export)
    level = codec.level(out.compression_level, export)
    compressors.check_available(codec, fmt.name, level, export)
    options = fmt.options(out.writer_options, export)
    text = values.text_options(fmt.name, options, export) if fmt.name != "parquet" else None
    staging = staging_uri(plan, platform)
    parquet = parquet_files.parquet_options(options)
    store = store or LocalFileStore()
    if any(s.name != MARKER for s in store.list(staging)):
        raise WriteError(f"staging directory {staging} is not empty", export)
    with _scratch(staging) as local_staging:
        job = _Job(
            plan,
            fmt,
            codec,
            level,
            local_staging,
            text,
            _metrics(plan, reader.schema),
            reader.schema,
            parquet,
        )
        try:
            with memory.in_use():  # the read's and the encoders' pages, reused (memory.py)
                part_rows = _write_parts(job, _batches(job, reader))
        except FabgenError:
            raise
        except (OSError, pa.ArrowException) as exc:
            raise WriteError(f"writing {fmt.name} ({codec.name}) failed: {exc}", export) from exc
        files = [_staged_file(job, store, staging, made) for made in job.made]
    staged = StagedOutput(
        export=export,
        staging_uri=staging,
        files=tuple(files),
        rows=job.metrics.rows,
        max_watermark=job.metrics.watermark(),
        part_rows=tuple(part_rows),
        null_watermark_rows=job.metrics.nulls,
    )
    staged.log_staged()
    return staged


@contextlib.contextmanager
def _scratch(staging: str) -> Iterator[str]:
    """Where the files are encoded: ``staging`` itself when local, else a local folder removed after.

    On Fabric the staging folder is in OneLake (``abfss://``), which a Python notebook reaches
    through ``notebookutils.fs`` only: files are encoded locally, then uploaded (:func:`_staged_file`).
    """
    if "://" not in staging:
        yield staging
        return
    folder = tempfile.mkdtemp(prefix="fabgen-scratch-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _staged_file(job: _Job, store: FileStore, staging: str, made: tuple[str, str, int]) -> StagedFile:
    """One written file as the protocol publishes it (uploaded into ``staging`` when encoded elsewhere)."""
    name, path, rows = made
    size, sha = job.digests.get(path) or sinks.digest(path)  # read back: zip only
    target = join(staging, "out", name)
    if target != path:
        if not isinstance(store, Uploads):
            raise WriteError(f"{type(store).__name__} cannot receive the local file {path}", job.export)
        try:
            store.upload(path, target)
        except OSError as exc:
            raise WriteError(f"uploading {name} into {staging} failed: {exc}", job.export) from exc
    return StagedFile(name, target, size, rows, sha)


def _metrics(plan: ExportPlan, schema: pa.Schema) -> _Metrics:
    config = plan.config
    if config.extract_type != "incremental" or not config.incremental_column:
        return _Metrics()
    wanted = config.incremental_column.lower()
    name = next((n for n in schema.names if n.lower() == wanted), None)
    if name is None:
        raise WriteError(
            f"incremental_column {config.incremental_column!r} is not a column of the source", config.key
        )
    kind = schema.field(name).type
    label = "timestamp" if pa.types.is_timestamp(kind) else "date" if pa.types.is_date(kind) else "value"
    return _Metrics(
        column=name, drop_nulls=bool(plan.source and plan.source.drops_null_incremental), kind=label
    )


def _batches(job: _Job, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    for batch in sinks.prefetched(iter(reader)):
        kept = job.metrics.take(batch)
        if kept.num_rows:
            yield kept


def _sliced(batches: Iterator[pa.RecordBatch], max_rows: int | None) -> Iterator[tuple[int, pa.RecordBatch]]:
    """``(part number, batch)``: batches cut so that part n holds rows ``[(n-1)*max, n*max)``."""
    part, used = 1, 0
    for batch in batches:
        offset = 0
        while offset < batch.num_rows:
            if max_rows and used == max_rows:
                part, used = part + 1, 0
            take = batch.num_rows - offset if not max_rows else min(batch.num_rows - offset, max_rows - used)
            yield part, batch.slice(offset, take)
            offset += take
            used += take


# --------------------------------------------------------------------------- parts


class _Part:
    """One data file being written: its encoder and sink.

    Text batches are encoded (and, with ``pack``, compressed into gzip members or zstd frames) on a
    thread pool and written in order (:class:`.sinks.Ordered`); the csv header goes in front of the
    first chunk.
    """

    def __init__(
        self,
        job: _Job,
        name: str,
        path: str | None,
        sink: IO[bytes] | sinks.Stream | None,
        schema: pa.Schema,
        pack: Callable[[bytes], bytes] | None = None,
    ):
        self.job, self.name, self.path, self.rows = job, name, path, 0
        self.sink = sink
        self.pack = pack
        self.prefix = b""  # the csv header, sent with the first chunk
        self.ordered: sinks.Ordered | None = None
        self.parquet: parquet_files.ParquetFile | None = None
        if job.fmt.name == "parquet":
            os.makedirs(os.path.dirname(path or "."), exist_ok=True)
            self.parquet = parquet_files.ParquetFile(
                path or "", schema, job.codec.name, job.level, job.parquet, job.digests
            )
        else:
            if job.text is not None and job.text.header and self.sink is not None:
                self.prefix = values.csv_header(schema.names, job.text)
            if self.sink is not None:
                self.ordered = sinks.Ordered(self.sink)

    def _chunk(self, batch: pa.RecordBatch | None, prefix: bytes) -> bytes:
        """One batch as the bytes its sink receives: encoded text, packed (a gzip member, a zstd
        frame) with ``pack``."""
        text, export = self.job.text, self.job.export
        assert text is not None
        data = prefix
        if batch is not None:
            encode = values.csv_lines if self.job.fmt.name == "csv" else values.json_lines
            encoded = encode(batch, text, export)
            data = prefix + encoded if prefix else encoded
        return self.pack(data) if self.pack is not None else data

    def write(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        if self.parquet is not None:
            self.parquet.write(batch)
            return
        assert self.ordered is not None
        self.ordered.submit(self._chunk, batch, self.prefix)
        self.prefix = b""

    def close(self, complete: bool = True) -> None:
        """Finish the file (``complete=False``: a failure; drop what is in flight)."""
        try:
            if self.parquet is not None:
                self.parquet.close(complete)
            if self.ordered is not None:
                if complete and (self.prefix or (self.pack is not None and self.rows == 0)):
                    self.ordered.submit(self._chunk, None, self.prefix)  # header only / empty member
                self.ordered.close(write=complete)
        finally:
            if self.sink is not None:
                self.sink.close()


def _write_parts(job: _Job, batches: Iterator[pa.RecordBatch]) -> list[int]:
    """Write every part; returns the rows of each (``job.made`` gets the files to publish)."""
    out, codec = job.plan.output, job.codec.name
    max_rows = out.max_rows_per_file
    post = out.post_process
    zip_sink: sinks.ZipSink | None = None
    tar_members: list[tuple[str, str]] = []
    part: _Part | None = None
    counts: list[int] = []
    pending = _sliced(batches, max_rows)

    def name_of(number: int) -> str:
        return out.part_filename(number) if max_rows else out.filename

    def open_part(number: int, batch_schema: pa.Schema) -> _Part:
        nonlocal zip_sink
        name = name_of(number)
        if not post or job.fmt.name == "parquet":
            return _Part(
                job,
                name,
                job.out(name),
                sinks.stream(job.out(name), "none", None, job.export, job.digests)
                if job.fmt.name != "parquet"
                else None,
                batch_schema,
            )
        pack = sinks.member_packer(codec, job.level)
        if pack is not None and not max_rows and job.codec.archive is None:  # gzip members / zstd frames
            path = job.out(_compressed(job))
            return _Part(
                job, name, None, sinks.stream(path, "none", None, job.export, job.digests), batch_schema, pack
            )
        if job.codec.archive == "zip":
            if zip_sink is None:
                zip_sink = sinks.ZipSink(
                    job.out(_compressed(job)), job.level or 0, job.plan.context.process_date
                )
            return _Part(job, name, None, zip_sink.entry(name), batch_schema)
        if max_rows:  # tar member: plain first, archived once every part is known
            path = join(job.staging, "parts", name)
            tar_members.append((name, path))
            return _Part(job, name, path, sinks.stream(path, "none", None, job.export), batch_schema)
        return _Part(
            job,
            name,
            None,
            sinks.stream(job.out(_compressed(job)), codec, job.level, job.export, job.digests),
            batch_schema,
        )

    def finish(current: _Part) -> None:
        current.close()
        counts.append(current.rows)
        if not post or job.fmt.name == "parquet":
            job.made.append((current.name, job.out(current.name), current.rows))

    try:
        for number, batch in pending:
            if part is None or number != len(counts) + 1:
                if part is not None:
                    finish(part)
                part = open_part(number, batch.schema)
            part.write(batch)
        if part is None:  # no rows: one file with the header (or the schema) only
            part = open_part(1, job.schema)
        finish(part)
        part = None
    finally:
        if part is not None:
            part.close(complete=False)
        if zip_sink is not None:
            zip_sink.close()
    if post and job.fmt.name != "parquet":
        name = _compressed(job)
        if tar_members:
            sinks.write_tar(
                sinks.stream(job.out(name), codec, job.level, job.export, job.digests),
                tar_members,
                job.plan.context.process_date,
            )
            sinks.remove_tree(join(job.staging, "parts"))
        job.made.append((name, job.out(name), sum(counts)))
    expected = split.part_rows(sum(counts), max_rows) if max_rows else [sum(counts)]
    if counts != expected:
        raise WriteError(f"parts hold {counts} rows, expected {expected}", job.export)
    return counts


def _compressed(job: _Job) -> str:
    name = job.plan.output.compressed_filename
    if name is None:
        raise CompressionError("the plan names no compressed file", job.export)
    return name
