"""Benchmark fabgen's write path against bare Spark, the naive route and Polars.

One command (see bench/README.md)::

    .venv/bin/python bench/run.py [--rows 5000000] [--repeat 3] [--only csv,zip] [--scale]

It builds a Delta table shaped like the example's orders once (cached under bench/.data), then,
in the same process and on the same data, times for each case:

* fabgen: ``writer.write`` + ``publish.publish`` (the single named file(s) consumers receive);
* bare: Spark writing the same data as a directory of part files, same format, codec, options;
* naive: ``coalesce(1)``, rename the part file, compress on the driver with the standard library
  (and, for split, a window over one partition plus one filter pass per part);
* polars: Polars writing the same file from the table's parquet files (single-machine reference).

It prints a table of median seconds and ratios and writes everything to bench/results/latest.json.
``--scale`` also exports 20,000,000 rows to one .csv.gz with the driver limited to 1 GB (a child
process with FABGEN_SPARK_DRIVER_MEMORY=1g).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform as host
import shutil
import statistics
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
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


# --------------------------------------------------------------------------- the four methods


def export_row(case: str, lakehouse: str) -> dict[str, Any]:
    row = {
        "export_group_name": "bench",
        "export_name": case.replace(".", "_").replace("-", "_"),
        "is_active": True,
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_workspace": WORKSPACE,
        "source_datastore": "lh_bench",
        "source_table": "orders",
        "target_workspace": WORKSPACE,
        "target_lakehouse": lakehouse,
        "target_path": "out",
        "target_filename_pattern": "orders_{run_date:%Y%m%d}.{ext}",
    }
    row.update(CASES[case])
    return row


def run_fabgen(spark, local, table: Path, case: str, out: Path) -> int:
    from fabgen_runtime import publish, writer
    from fabgen_runtime.config import parse_config
    from fabgen_runtime.plan import RunContext, build_plan

    lakehouse = out.name.removesuffix(".Lakehouse")
    plan = build_plan(
        parse_config(export_row(case, lakehouse)),
        RunContext.create("2025-12-12"),
        export_run_id=str(uuid.uuid4()),
    )
    staged = writer.write(read_table(spark, table), plan, local)
    published = publish.publish(staged, plan, local)
    return published.total_bytes


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


RUNNERS: dict[str, Callable[..., int]] = {
    "fabgen": run_fabgen,
    "bare": run_bare,
    "naive": run_naive,
    "polars": run_polars,
}


# --------------------------------------------------------------------------- measuring


def output_dir(method: str, case: str) -> Path:
    name = f"lh_{method}_{case.replace('.', '_').replace('-', '_')}"
    if method == "fabgen":
        return onelake() / WORKSPACE / f"{name}.Lakehouse"
    return DATA / "out" / name


class CpuClock:
    """CPU seconds of this process and the Spark JVM (less sensitive to a busy machine than wall time)."""

    def __init__(self, spark):
        self.pid = int(spark._jvm.java.lang.ProcessHandle.current().pid()) if spark is not None else None
        self.tick = os.sysconf("SC_CLK_TCK")

    def __call__(self) -> float:
        times = os.times()
        total = times.user + times.system
        if self.pid is not None and self.pid != os.getpid():
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / self.tick
        return total


def measure(spark, local, table: Path, case: str, method: str, repeat: int) -> dict[str, Any]:
    clock = CpuClock(spark)
    runs, cpu, sizes, load = [], [], [], []
    for _ in range(repeat):
        out = output_dir(method, case)
        shutil.rmtree(out, ignore_errors=True)
        load.append(round(os.getloadavg()[0], 1))
        cpu_start, start = clock(), time.perf_counter()
        size = RUNNERS[method](spark, local, table, case, out)
        runs.append(round(time.perf_counter() - start, 2))
        cpu.append(round(clock() - cpu_start, 2))
        sizes.append(size)
        shutil.rmtree(out, ignore_errors=True)
    return {
        "runs": runs,
        "median": statistics.median(runs),
        "cpu": cpu,
        "cpu_median": statistics.median(cpu),
        "bytes": sizes[-1],
        "load": load,
    }


def warm_up(spark, local, table: Path) -> None:
    """One untimed run of each Spark route so JIT compilation is not charged to the first case."""
    for method in ("bare", "fabgen"):
        out = output_dir(method, "csv")
        shutil.rmtree(out, ignore_errors=True)
        RUNNERS[method](spark, local, table, "csv", out)
        shutil.rmtree(out, ignore_errors=True)


def ratios(result: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    def ratio(a: str, b: str) -> float | None:
        if a in result and b in result and result[b]["median"]:
            return round(result[a]["median"] / result[b]["median"], 2)
        return None

    return {
        "fabgen/bare": ratio("fabgen", "bare"),
        "naive/fabgen": ratio("naive", "fabgen"),
        "fabgen/polars": ratio("fabgen", "polars"),
    }


def verdict(case: str, r: dict[str, float | None]) -> str:
    max_bare, min_naive = TARGETS[case]
    checks = []
    if r["fabgen/bare"] is not None:
        checks.append(("ok" if r["fabgen/bare"] <= max_bare else "MISS") + f" <= {max_bare}x bare")
    if min_naive and r["naive/fabgen"] is not None:
        checks.append(
            ("ok" if r["naive/fabgen"] >= min_naive else "MISS") + f" >= {min_naive}x faster than naive"
        )
    return "; ".join(checks)


def print_table(cases: dict[str, Any]) -> None:
    header = (
        f"{'case':<10}"
        + "".join(f"{m:>9}" for m in METHODS)
        + f"{'fab/bare':>10}{'naive/fab':>11}{'fab/polars':>12}  target"
    )
    print(header)
    print("-" * len(header))
    for case, entry in cases.items():
        cells = "".join(
            f"{entry['methods'][m]['median']:>9.2f}" if m in entry["methods"] else f"{'-':>9}"
            for m in METHODS
        )
        r = entry["ratios"]
        fmt = lambda v: f"{v:.2f}" if v is not None else "-"  # noqa: E731
        print(
            f"{case:<10}{cells}{fmt(r['fabgen/bare']):>10}{fmt(r['naive/fabgen']):>11}"
            f"{fmt(r['fabgen/polars']):>12}  {entry['verdict']}"
        )
    print("\nCPU seconds (Spark JVM + Python), medians:")
    for case, entry in cases.items():
        cells = "".join(
            f"{entry['methods'][m]['cpu_median']:>9.2f}" if m in entry["methods"] else f"{'-':>9}"
            for m in METHODS
        )
        print(f"{case:<10}{cells}")


def run_scale(rows: int) -> dict[str, Any]:
    """The scale case, in a child process whose driver has 1 GB."""
    env = dict(os.environ, FABGEN_SPARK_DRIVER_MEMORY="1g")
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, __file__, "--scale-child", "--rows", str(rows)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = round(time.perf_counter() - start, 2)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    report.update(
        {
            "rows": rows,
            "driver_memory": "1g",
            "returncode": result.returncode,
            "child_seconds": elapsed,
            "ok": result.returncode == 0 and report.get("valid", False),
        }
    )
    if result.returncode:
        report["stderr_tail"] = result.stderr[-2000:]
    return report


def scale_child(rows: int) -> None:
    spark, local = spark_session()
    table = ensure_table(spark, rows)
    out = output_dir("fabgen", "scale")
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    size = run_fabgen(spark, local, table, "csv.gz", out)
    seconds = round(time.perf_counter() - start, 2)
    (path,) = (out / "Files" / "out").glob("*.csv.gz")
    valid = subprocess.run(["gzip", "-t", str(path)], check=False).returncode == 0
    with gzip.open(path, "rb") as stream:  # count lines without holding the file in memory
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(16 << 20), b""))
    shutil.rmtree(out, ignore_errors=True)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "bytes": size,
                "valid": valid and lines == rows + 1,
                "lines": lines,
                "driver_memory_conf": spark.conf.get("spark.driver.memory"),
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of fabgen and bare Spark per case")
    parser.add_argument(
        "--reference-repeat", type=int, default=1, help="runs of the naive route and Polars per case"
    )
    parser.add_argument("--only", default="", help=f"comma-separated cases ({', '.join(CASES)})")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    parser.add_argument(
        "--scale", action="store_true", help="also run 20,000,000 rows to .csv.gz with a 1 GB driver"
    )
    parser.add_argument("--scale-rows", type=int, default=20_000_000)
    parser.add_argument("--scale-only", action="store_true", help="run only the scale case")
    parser.add_argument("--scale-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.scale_child:
        scale_child(args.rows)
        return 0

    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {
            "cpus": os.cpu_count(),
            "python": host.python_version(),
            "machine": host.machine(),
            "load_before": os.getloadavg(),
        },
        "rows": args.rows,
        "repeat": args.repeat,
        "reference_repeat": args.reference_repeat,
        "cases": {},
    }
    if not args.scale_only:
        spark, local = spark_session()
        report["host"]["spark"] = spark.version
        report["host"]["master"] = spark.sparkContext.master
        table = ensure_table(spark, args.rows)
        log.info("warming up")
        warm_up(spark, local, table)
        cases = [c for c in args.only.split(",") if c] or list(CASES)
        methods = [m for m in args.methods.split(",") if m]
        for case in cases:
            entry: dict[str, Any] = {"config": CASES[case], "methods": {}}
            for method in methods:
                log.info("%s / %s", case, method)
                runs = args.repeat if method in ("fabgen", "bare") else args.reference_repeat
                entry["methods"][method] = measure(spark, local, table, case, method, runs)
            entry["ratios"] = ratios(entry["methods"])
            entry["verdict"] = verdict(case, entry["ratios"])
            report["cases"][case] = entry
        report["host"]["load_after"] = os.getloadavg()
        print_table(report["cases"])
    if args.scale or args.scale_only:
        log.info("scale: %s rows to one .csv.gz with a 1 GB driver", f"{args.scale_rows:,}")
        report["scale"] = run_scale(args.scale_rows)
        print("scale:", json.dumps(report["scale"]))
    report["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
