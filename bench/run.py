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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from baselines import run_bare, run_naive, run_polars
from cases import CASES, METHODS, RESULTS, WORKSPACE, ensure_table, log, output_dir, read_table, spark_session
from report import print_table, ratios, verdict, write_results

# --------------------------------------------------------------------------- the four methods
# fabgen's route is here; the bare, naive and Polars routes are in baselines.py.


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
    from fabgen_runtime import publish
    from fabgen_runtime.configs import parse_config
    from fabgen_runtime.engines.spark import writer
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


RUNNERS: dict[str, Callable[..., int]] = {
    "fabgen": run_fabgen,
    "bare": run_bare,
    "naive": run_naive,
    "polars": run_polars,
}


# --------------------------------------------------------------------------- measuring


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
    write_results(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
