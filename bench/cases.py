"""What the write-path benchmark measures, and on what: the cases, the targets, the Spark session
and the orders-shaped Delta table (built once, cached under bench/.data or $FABGEN_BENCH_DIR)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DATA = Path(os.environ.get("FABGEN_BENCH_DIR", ROOT / ".data"))
RESULTS = ROOT / "results"
WORKSPACE = "bench"
SPLIT_ROWS = 1_000_000
METHODS = ("fabgen", "bare", "naive", "polars")

CASES: dict[str, dict[str, Any]] = {
    "csv": {"file_format": "csv"},
    "csv.gz": {"file_format": "csv", "compression": "gzip", "compression_level": 6},
    "zip": {"file_format": "csv", "compression": "zip", "compression_level": 6},
    "split-zip": {
        "file_format": "csv",
        "compression": "zip",
        "compression_level": 6,
        "max_rows_per_file": SPLIT_ROWS,
    },
    "parquet": {"file_format": "parquet"},
    "json": {"file_format": "json"},
}
# case -> (max fabgen/bare, min naive/fabgen or None)
TARGETS: dict[str, tuple[float, float | None]] = {
    "csv": (1.25, None),
    "csv.gz": (1.25, 2.0),
    "zip": (1.25, 2.0),
    "split-zip": (1.5, None),
    "parquet": (1.15, None),
    "json": (1.15, None),
}

log = logging.getLogger("bench")


# --------------------------------------------------------------------------- setup


def onelake() -> Path:
    return DATA / "onelake"


def table_path(rows: int) -> Path:
    return onelake() / WORKSPACE / "lh_bench.Lakehouse" / "Tables" / "dbo" / f"orders_{rows}"


def spark_session():
    os.environ.setdefault("FABGEN_PLATFORM", "local")
    os.environ["FABGEN_ONELAKE_ROOT"] = str(onelake())
    os.environ.setdefault("FABGEN_SPARK_WAREHOUSE", str(DATA / "spark-warehouse"))
    from fabgen_runtime import platform

    local = platform.LocalPlatform(onelake())
    platform.use(local)
    return local.spark(), local


def ensure_table(spark, rows: int) -> Path:
    """The orders-shaped Delta table of ``rows`` rows (built once, then reused)."""
    from pyspark.sql import functions as F

    path = table_path(rows)
    if (path / "_delta_log").exists():
        return path
    log.info("building %s rows into %s (once)", f"{rows:,}", path)
    if path.exists():
        shutil.rmtree(path)
    df = spark.range(rows).select(
        F.col("id"),
        (F.col("id") % 100_000).cast("int").alias("customer_id"),
        ((F.col("id") * 7919 % 10_000_000) / 100).cast("decimal(18,2)").alias("amount"),
        F.date_add(F.lit("2020-01-01").cast("date"), (F.col("id") % 2000).cast("int")).alias("order_date"),
        F.timestamp_micros(F.lit(1_600_000_000_000_000) + F.col("id") * 7_654_321).alias("updated_at"),
        F.substring(F.sha2(F.col("id").cast("string"), 256), 1, 20).alias("note"),
    )
    df.write.format("delta").save(str(path))
    return path


def read_table(spark, path: Path):
    return spark.read.format("delta").load(str(path))


def parquet_files(path: Path) -> list[str]:
    return sorted(str(p) for p in path.glob("*.parquet"))


def output_dir(method: str, case: str) -> Path:
    name = f"lh_{method}_{case.replace('.', '_').replace('-', '_')}"
    if method == "fabgen":
        return onelake() / WORKSPACE / f"{name}.Lakehouse"
    return DATA / "out" / name
