"""Write one export's DataFrame into its staging directory as exactly the files the config names.

:func:`write` runs the source through Spark once:

* without ``max_rows_per_file``: Spark writes part files in parallel into staging (csv/json
  without a header; gzip compressed inside the tasks when the codec is gzip), counting rows and
  the watermark with ``DataFrame.observe`` in the same pass; the parts are then joined into one
  named file (header first) by a JVM-side byte copy, compressed into pieces in parallel
  (zip, zstd), or row groups merged (parquet).
* with ``max_rows_per_file``: the DataFrame is persisted to disk while one job counts the rows
  of each partition (and the watermark); each row's part follows from its partition's offset
  and its index inside the partition, and a second job over the persisted rows writes them
  partitioned by part, in order. Parts are then joined and named ``part_filename(n)``, or
  bundled into one archive (zip, or tar with gzip/zstd/brotli).

Nothing is published here: :func:`fabgen_runtime.publish.publish` moves the staged files into
place, :func:`fabgen_runtime.publish.discard` removes the staging directory after a failure.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ... import compression, formats, split
from ... import platform as platform_mod
from ...compression import HADOOP_ZLIB_LEVELS, deflate
from ...errors import FabgenError, WriteError
from ...protocol.journal import MARKER
from ...protocol.store import join
from ...publish import staging_uri
from ...staged import StagedFile, StagedOutput, render_watermark
from . import assemble, codecs, exact_values, pieces
from .csv_header import csv_header
from .fs import HadoopFS
from .metrics import kept_rows, null_watermark_metric, watermark_metric

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from ...plan import ExportPlan

log = logging.getLogger(__name__)

PART_COLUMN = "__fabgen_part"
INDEX_COLUMN = "__fabgen_index"
_PART_FILE = re.compile(r"^part-(\d+)-.*?(?:-c(\d+))?(\.[^/]*)?$")


@dataclass
class _Job:
    df: DataFrame
    plan: ExportPlan
    fs: HadoopFS
    fmt: formats.FileFormat
    codec: compression.Codec
    level: int | None
    options: dict[str, str]
    staging: str
    watermark: tuple[Column, str] | None  # (metric, kind) for incremental exports
    null_watermark: Column | None = None  # count of NULL incremental_column values
    null_rows: int = 0  # its value, once written
    keep: Column | None = None  # rows to write (NULL incremental values read only to be counted)

    @property
    def export(self) -> str:
        return self.plan.config.key

    def dir(self, name: str) -> str:
        return join(self.staging, name)

    @property
    def compress_level(self) -> int:
        """The level of a codec applied after the write (every such codec has a default level)."""
        if self.level is None:
            raise WriteError(f"{self.codec.name} takes no compression level", self.export)
        return self.level

    @property
    def compressed_name(self) -> str:
        """The compressed output's file name (post-processed outputs always have one)."""
        name = self.plan.output.compressed_filename
        if name is None:
            raise WriteError("the plan names no compressed file", self.export)
        return name


def write(df: DataFrame, plan: ExportPlan, platform: platform_mod.Platform | None = None) -> StagedOutput:
    """Write ``df`` into ``plan.output.staging_directory`` as the files the plan names.

    Rows (and ``max(incremental_column)`` for incremental exports) are counted in the same pass
    over the source. Raises ``WriteError`` / ``CompressionError`` naming the export.
    """
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    platform = platform or platform_mod.current()
    out = plan.output
    export = plan.config.key
    fmt = formats.get(out.file_format, export)
    codec = compression.get(out.compression, export)
    spark = df.sparkSession
    codec.check_available(codecs.jvm_has_class(spark), fmt.name, export)
    level = codec.level(out.compression_level, export)
    parquet_gzip = fmt.name == "parquet" and codec.name == "gzip"
    if parquet_gzip and not codecs.hadoop_gzip_honours_level(spark, level):
        log.warning(
            "%s: this Spark's Hadoop gzip codec ignores compression_level %s for parquet (no native zlib; "
            "Hadoop 3.3 / Spark 3.5): the file is written at level %d",
            export,
            level,
            codecs.ZLIB_DEFAULT_LEVEL,
        )
    job = _Job(
        df=df,
        plan=plan,
        fs=HadoopFS(spark),
        fmt=fmt,
        codec=codec,
        level=level,
        options=fmt.options(out.writer_options, export),
        staging=staging_uri(plan, platform),
        watermark=watermark_metric(df, plan),
        null_watermark=null_watermark_metric(df, plan),
        keep=kept_rows(df, plan),
    )
    try:
        if any(s.name != MARKER for s in job.fs.list(job.staging)):
            raise WriteError(f"staging directory {job.staging} is not empty", export)
        staged = _write_split(job) if out.max_rows_per_file else _write_single(job)
    except FabgenError:
        raise
    except (OSError, Py4JError, PySparkException) as exc:
        raise WriteError(f"writing {fmt.name} ({codec.name}) failed: {_message(exc)}", export) from exc
    staged.log_staged()
    return staged


# --------------------------------------------------------------------------- metrics


def _metrics(job: _Job) -> list[Column]:
    from pyspark.sql import functions as F

    # Rows written: with ``keep`` the NULL incremental values are counted here, then dropped.
    metrics = [(F.count(F.lit(1)) if job.keep is None else F.count(F.when(job.keep, F.lit(1)))).alias("rows")]
    if job.watermark is not None:
        metrics.append(job.watermark[0].alias("watermark"))
    if job.null_watermark is not None:
        metrics.append(job.null_watermark.alias("null_watermark"))
    return metrics


def _watermark_text(job: _Job, value: Any) -> str | None:
    return render_watermark(value, job.watermark[1]) if job.watermark is not None else None


# --------------------------------------------------------------------------- spark writes


def _writer_options(job: _Job) -> dict[str, str]:
    """Options for the data parts: no header (written once, separately), codec where Spark applies it."""
    options = {k: v for k, v in job.options.items() if k.lower() != "header"}
    if job.fmt.has_header:
        options["header"] = "false"
    if job.fmt.name == "parquet":
        options.update(job.codec.parquet_options(job.level))
    return options


def _header(job: _Job) -> bytes:
    """The CSV header exactly as Spark writes it with these options (empty when there is none)."""
    if not job.fmt.header(job.options):
        return b""
    made = csv_header(job.df, job.options) if job.fmt.spark_format == "csv" else None
    if made is not None:
        return made
    target = job.dir("header")
    job.df.limit(0).write.format(job.fmt.spark_format).options(**job.options).mode("errorifexists").save(
        target
    )
    parts = _list_parts(job.fs, target)
    return b"".join(job.fs.read_bytes(p.uri) for p in parts)


def _list_parts(fs: HadoopFS, directory: str) -> list[assemble.Part]:
    """Spark's part files in a directory, in row order (task, then file sequence)."""
    found = []
    for status in fs.list(directory):
        match = _PART_FILE.match(status.name)
        if status.is_dir or not match:
            continue
        found.append((int(match.group(1)), int(match.group(2) or 0), assemble.Part(status.uri, status.size)))
    return [part for *_key, part in sorted(found, key=lambda item: (item[0], item[1]))]


def _out(job: _Job, name: str) -> str:
    return join(job.staging, "out", name)


# --------------------------------------------------------------------------- one file


def _write_single(job: _Job) -> StagedOutput:
    from pyspark.sql import Observation

    output = job.plan.output
    raw = job.dir("spark")
    observation = Observation()
    observed = job.df.observe(observation, *_metrics(job))
    if job.keep is not None:
        observed = observed.where(job.keep)
    prepared = exact_values.prepare(observed, job.fmt.name, _writer_options(job))
    writer = prepared.df.write.format(prepared.spark_format).options(**prepared.options)
    native_gzip = (
        job.codec.name == "gzip"
        and job.fmt.joinable
        and codecs.hadoop_gzip_honours_level(job.df.sparkSession, job.level)
    )
    if native_gzip:
        writer = writer.option("compression", "gzip").option(
            "zlib.compress.level", HADOOP_ZLIB_LEVELS[job.compress_level]
        )
    writer.mode("errorifexists").save(raw)
    metrics = observation.get
    rows = int(metrics.get("rows", 0))
    watermark = _watermark_text(job, metrics.get("watermark"))
    job.null_rows = int(metrics.get("null_watermark") or 0)
    parts = _list_parts(job.fs, raw)

    if job.fmt.name == "parquet":
        dest = _out(job, output.filename)
        size = assemble.write_parquet(job.fs, dest, parts)
        return _staged(job, [(output.filename, dest, size, rows)], rows, watermark, (rows,))

    header = _header(job)
    sources: list[assemble.Source] = [header, *parts] if header else list(parts)
    name = output.filename if job.codec.name == "none" else job.compressed_name
    dest = _out(job, name)
    if job.codec.name == "none":
        size = assemble.write_plain(job.fs, dest, sources)
    elif native_gzip:
        members: list[str | bytes] = [deflate.gzip_member(header, job.compress_level)] if header else []
        members += [p.uri for p in parts]
        size = job.fs.concat(dest, members or [deflate.gzip_member(b"", job.compress_level)])
    else:
        size = _compress(job, dest, [(output.filename, sources)], archive=False)
    return _staged(job, [(name, dest, size, rows)], rows, watermark, (rows,))


def _compress(job: _Job, dest: str, entries: list[tuple[str, list[assemble.Source]]], archive: bool) -> int:
    """Write ``entries`` compressed with the job's codec: one zip, or a (tar) stream."""
    fs, codec, level = job.fs, job.codec, job.compress_level
    modified = job.plan.context.process_date
    work = assemble.piece_dir(job.staging)
    if codec.archive == "zip":
        return assemble.write_zip(fs, level, dest, entries, work, modified)
    sources = assemble.tar_sources(entries, modified) if archive else entries[0][1]
    if codec.name == "brotli":
        return assemble.write_brotli(fs, level, dest, sources, job.export)
    return assemble.write_stream(fs, codec.name, level, dest, sources, work)


def _staged(
    job: _Job,
    files: list[tuple[str, str, int, int]],
    rows: int,
    watermark: str | None,
    part_rows: tuple[int, ...],
) -> StagedOutput:
    return StagedOutput(
        export=job.export,
        staging_uri=job.staging,
        files=tuple(
            StagedFile(name, uri, size, count, job.fs.sha256(uri)) for name, uri, size, count in files
        ),
        rows=rows,
        max_watermark=watermark,
        part_rows=part_rows,
        null_watermark_rows=job.null_rows,
    )


# --------------------------------------------------------------------------- split


def _write_split(job: _Job) -> StagedOutput:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    output = job.plan.output
    max_rows = output.max_rows_per_file
    if not max_rows:
        raise WriteError("a split write needs max_rows_per_file", job.export)
    raw = job.dir("spark")
    was_cached = job.df.is_cached
    cached = job.df if was_cached else job.df.persist(StorageLevel.DISK_ONLY)
    try:
        # The one pass over the source: count each partition's rows (and the watermark).
        stats = cached.groupBy(F.spark_partition_id().alias("partition")).agg(*_metrics(job)).collect()
        counts = {int(r["partition"]): int(r["rows"]) for r in stats}
        rows = sum(counts.values())
        marks = [r["watermark"] for r in stats if job.watermark is not None and r["watermark"] is not None]
        watermark = _watermark_text(job, max(marks)) if marks else None
        if job.null_watermark is not None:
            job.null_rows = sum(int(r["null_watermark"] or 0) for r in stats)
        if rows:
            offsets = split.partition_offsets(counts, max(counts) + 1)
            index = F.monotonically_increasing_id().bitwiseAND(F.lit(split.INDEX_MASK))
            offset = F.element_at(F.array(*[F.lit(o) for o in offsets]), F.spark_partition_id() + 1)
            part = (F.floor((offset + index) / F.lit(max_rows)) + 1).cast("int")
            kept = cached if job.keep is None else cached.where(job.keep)
            numbered = (
                kept.select("*", part.alias(PART_COLUMN), index.alias(INDEX_COLUMN))
                .sortWithinPartitions(PART_COLUMN, INDEX_COLUMN)
                .drop(INDEX_COLUMN)
            )
            prepared = exact_values.prepare(numbered, job.fmt.name, _writer_options(job), keep=(PART_COLUMN,))
            prepared.df.write.format(prepared.spark_format).options(**prepared.options).partitionBy(
                PART_COLUMN
            ).mode("errorifexists").save(raw)
    finally:
        if not was_cached:
            cached.unpersist()

    counts_per_part = split.part_rows(rows, max_rows)
    parts_by_number = {
        n: _list_parts(job.fs, join(raw, f"{PART_COLUMN}={n}")) for n in range(1, len(counts_per_part) + 1)
    }
    names = [output.part_filename(n) for n in range(1, len(counts_per_part) + 1)]

    if job.fmt.name == "parquet":
        if not rows:
            empty = job.dir("empty")
            job.df.limit(0).write.format("parquet").options(**_writer_options(job)).mode(
                "errorifexists"
            ).save(empty)
            parts_by_number[1] = _list_parts(job.fs, empty)
        files = pieces.run_parallel(
            lambda n: (
                names[n - 1],
                _out(job, names[n - 1]),
                assemble.write_parquet(job.fs, _out(job, names[n - 1]), parts_by_number[n]),
                counts_per_part[n - 1],
            ),
            list(parts_by_number),
        )
        return _staged(job, files, rows, watermark, tuple(counts_per_part))

    header = _header(job)
    entries: list[tuple[str, list[assemble.Source]]] = [
        (names[n - 1], [header, *parts_by_number[n]] if header else list(parts_by_number[n]))
        for n in range(1, len(counts_per_part) + 1)
    ]
    if job.codec.name == "none":
        plain = pieces.run_parallel(
            lambda entry: (
                entry[0],
                _out(job, entry[0]),
                assemble.write_plain(job.fs, _out(job, entry[0]), entry[1]),
            ),
            entries,
        )
        return _staged(
            job,
            [(*f, c) for f, c in zip(plain, counts_per_part, strict=True)],
            rows,
            watermark,
            tuple(counts_per_part),
        )
    name = job.compressed_name
    size = _compress(job, _out(job, name), entries, archive=True)
    return _staged(job, [(name, _out(job, name), size, rows)], rows, watermark, tuple(counts_per_part))


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else type(exc).__name__
