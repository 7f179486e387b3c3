"""The reference routes the write-path benchmark times fabgen against: bare Spark, naive, Polars."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

from cases import CASES, SPLIT_ROWS, parquet_files, read_table


def spark_options(case: str) -> dict[str, str]:
    """The options fabgen gives Spark for this case (so every method does the same work)."""
    from fabgen_runtime import formats

    return formats.get(CASES[case]["file_format"]).options({})


def _bare_codec(case: str) -> dict[str, str]:
    if CASES[case].get("compression") in ("gzip", "zip"):
        return {"compression": "gzip", "zlib.compress.level": "SIX"}
    return {}


def run_bare(spark, _local, table: Path, case: str, out: Path) -> int:
    fmt = CASES[case]["file_format"]
    read_table(spark, table).write.format(fmt).options(**spark_options(case), **_bare_codec(case)).save(
        str(out)
    )
    return sum(p.stat().st_size for p in out.glob("part-*"))


def _single_part(directory: Path, dest: Path) -> Path:
    (part,) = directory.glob("part-*")
    part.rename(dest)
    shutil.rmtree(directory)
    return dest


def run_naive(spark, _local, table: Path, case: str, out: Path) -> int:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    fmt = CASES[case]["file_format"]
    options = spark_options(case)
    compression = CASES[case].get("compression")
    out.mkdir(parents=True)
    df = read_table(spark, table)
    if CASES[case].get("max_rows_per_file"):
        # The origin's split: a window over a single partition, then one filter pass per part.
        numbered = df.withColumn("_rn", F.row_number().over(Window.orderBy(F.monotonically_increasing_id())))
        total = numbered.count()
        names = []
        for part in range((total + SPLIT_ROWS - 1) // SPLIT_ROWS):
            chunk = numbered.filter(
                (F.col("_rn") > part * SPLIT_ROWS) & (F.col("_rn") <= (part + 1) * SPLIT_ROWS)
            )
            tmp = out / f"tmp{part}"
            chunk.drop("_rn").coalesce(1).write.format(fmt).options(**options).save(str(tmp))
            names.append(_single_part(tmp, out / f"orders_part{part + 1:04d}.{fmt}"))
        with zipfile.ZipFile(out / "orders.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for name in names:
                archive.write(name, name.name)
                name.unlink()
        return (out / "orders.zip").stat().st_size
    tmp = out / "tmp"
    df.coalesce(1).write.format(fmt).options(**options).save(str(tmp))
    plain = _single_part(tmp, out / f"orders.{fmt}")
    if compression == "gzip":
        with open(plain, "rb") as src, gzip.open(out / f"orders.{fmt}.gz", "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 4 << 20)
        plain.unlink()
        return (out / f"orders.{fmt}.gz").stat().st_size
    if compression == "zip":
        with zipfile.ZipFile(out / "orders.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            archive.write(plain, plain.name)
        plain.unlink()
        return (out / "orders.zip").stat().st_size
    return plain.stat().st_size


def run_polars(_spark, _local, table: Path, case: str, out: Path) -> int:
    import polars as pl

    out.mkdir(parents=True)
    fmt = CASES[case]["file_format"]
    compression = CASES[case].get("compression")
    frame = pl.scan_parquet(parquet_files(table))
    if fmt == "parquet":
        frame.sink_parquet(out / "orders.parquet", compression="snappy")
    elif fmt == "json":
        frame.sink_ndjson(out / "orders.json")
    elif compression == "gzip":
        frame.sink_csv(out / "orders.csv.gz", compression="gzip", compression_level=6)
    elif compression == "zip":
        data = frame.collect()
        parts = (
            [data]
            if not CASES[case].get("max_rows_per_file")
            else [data.slice(start, SPLIT_ROWS) for start in range(0, data.height, SPLIT_ROWS)]
        )
        with zipfile.ZipFile(out / "orders.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for number, part in enumerate(parts, 1):
                with archive.open(f"orders_part{number:04d}.csv", "w", force_zip64=True) as entry:
                    part.write_csv(entry)
    else:
        frame.sink_csv(out / "orders.csv")
    return sum(p.stat().st_size for p in out.iterdir())
