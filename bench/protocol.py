"""Benchmark the run protocol's bookkeeping: many tiny exports in one execution group.

One command (see bench/README.md)::

    .venv/bin/python bench/protocol.py [--sizes 20,100] [--rows 100] [--concurrency 4]

For each size N: N lakehouse tables of ``--rows`` rows, exported as N incremental csv exports in
one execution group by the orchestrator with ``max_concurrency`` = ``--concurrency`` (read, write,
publish, log rows, leases, watermarks: everything a run does), versus bare Spark writing the same
N tables as csv directories from a thread pool of the same size, in the same process and session.
It prints total seconds, the ratio, the target (fabgen <= 1.5x bare + 5 s, issue #25) and the Delta commits
the group made to the state tables (``log_resource_export`` and ``log_resource_export_watermark``
versions before and after; target <= 4 per execution group). Results go to
bench/results/protocol.json.

Each invocation uses a fresh workspace under ``FABGEN_BENCH_DIR`` (default bench/.data), so the
state tables start empty; one untimed single-export group first creates them and warms the code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import read  # bench/read.py: the benchmarks' export rows

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
DATA = Path(os.environ.get("FABGEN_BENCH_DIR", ROOT / ".data")) / "protocol"
RESULTS = ROOT / "results"
STATE_TABLES = ("log_resource_export", "log_resource_export_watermark")
VERSION_FILE = re.compile(r"^(\d{20})\.json$")


def export_row(workspace: str, name: str, table: str) -> dict[str, Any]:
    """One tiny incremental csv export of ``table``."""
    return read.export_row(
        name,
        workspace=workspace,
        group="bench_protocol",
        source_type="lakehouse",
        source_datastore="lh_src",
        source_table=table,
        extract_type="incremental",
        incremental_column="id",
        incremental_initial_watermark="-1",
        target_filename_pattern=name + "_{run_id}.csv",
    )


def table_version(path: str) -> int:
    """The latest version of a local Delta table (-1 when it does not exist yet)."""
    log_dir = Path(path) / "_delta_log"
    if not log_dir.is_dir():
        return -1
    versions = [int(m.group(1)) for p in log_dir.iterdir() if (m := VERSION_FILE.match(p.name))]
    return max(versions, default=-1)


def state_versions(logger: Any) -> dict[str, int]:
    return {table: table_version(logger.table_path(table)) for table in STATE_TABLES}


def build_sources(spark: Any, local: Any, workspace: str, count: int, rows: int) -> list[str]:
    """``count`` Delta tables ``t_000..`` of ``rows`` rows (id, name, amount); their paths."""
    from fabgen_runtime import platform

    paths = []
    df = spark.sql(
        f"SELECT id, concat('row ', id) AS name, CAST(id * 1.5 AS DECIMAL(18,2)) AS amount FROM range({rows})"
    )
    for index in range(count):
        path = platform.table_uri(local, workspace, "lh_src", "dbo", f"t_{index:03d}")
        df.write.format("delta").mode("overwrite").save(path)
        paths.append(path)
    return paths


def bare_writes(spark: Any, paths: list[str], out: Path, concurrency: int) -> float:
    """Seconds for bare Spark to write every table as a csv directory, ``concurrency`` at once."""

    def write(item: tuple[int, str]) -> None:
        index, path = item
        spark.read.format("delta").load(path).write.mode("overwrite").option("header", "true").csv(
            str(out / f"t_{index:03d}")
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(write, enumerate(paths)))
    return time.perf_counter() - started


def run_size(
    orchestrator: Any, spark: Any, workspace: str, paths: list[str], size: int, rows: int, concurrency: int
) -> dict[str, Any]:
    """One group of ``size`` exports through fabgen, then bare Spark on the same tables."""
    configs = [export_row(workspace, f"e{size}_{i:03d}", f"t_{i:03d}") for i in range(size)]
    before = state_versions(orchestrator.logger)
    counted = getattr(orchestrator.logger, "commits", None)  # the logger's own counter, when it has one
    started = time.perf_counter()
    result = orchestrator.process_exports(configs, f"bench-{size}-{uuid.uuid4().hex[:8]}")
    fabgen_s = time.perf_counter() - started
    after = state_versions(orchestrator.logger)
    if counted is not None:
        counted = orchestrator.logger.commits - counted
    exported = [r["rows_exported"] for r in result["results"]]
    assert result["success"] and exported == [rows] * size, (result["failed"], exported[:5])
    bare_s = bare_writes(spark, paths[:size], DATA / "bare" / workspace / str(size), concurrency)
    commits = {table: after[table] - before[table] for table in STATE_TABLES}
    target = 1.5 * bare_s + 5
    return {
        "exports": size,
        "rows_per_export": rows,
        "concurrency": concurrency,
        "fabgen_s": round(fabgen_s, 2),
        "bare_spark_s": round(bare_s, 2),
        "ratio": round(fabgen_s / bare_s, 2),
        "target_s": round(target, 2),
        "target_met": fabgen_s <= target,
        "bookkeeping_s_per_export": round((fabgen_s - bare_s) / size, 2),
        "state_commits": commits,
        "state_commits_total": sum(commits.values()),
        "logger_commits": counted,
        "target_commits": 4,
        "commits_met": sum(commits.values()) <= 4,
        "load_before": os.getloadavg(),
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
    except OSError:
        return "?"
    return out.stdout.strip() or "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="20,100", help="group sizes (exports per execution group)")
    parser.add_argument("--rows", type=int, default=100, help="rows per export")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--out", default=str(RESULTS / "protocol.json"))
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    os.environ.setdefault("FABGEN_ONELAKE_ROOT", str(DATA / "onelake"))
    os.environ["FABGEN_PLATFORM"] = "local"
    from fabgen_runtime import ExportLogger, ExportOrchestrator, platform

    local = platform.LocalPlatform(os.environ["FABGEN_ONELAKE_ROOT"])
    platform.use(local)
    spark = local.spark()
    workspace = f"bench_protocol_{uuid.uuid4().hex[:8]}"
    print(f"building {max(sizes)} source tables of {args.rows} rows in {workspace} ...", flush=True)
    paths = build_sources(spark, local, workspace, max(sizes), args.rows)
    logger = ExportLogger({"workspace": workspace, "lakehouse": "lh_config"}, spark=spark, platform=local)
    orchestrator = ExportOrchestrator(spark, logger, max_concurrency=args.concurrency, platform=local)
    warm = orchestrator.process_exports([export_row(workspace, "warmup", "t_000")], "bench-warmup")
    assert warm["success"], warm
    bare_writes(spark, paths[:1], DATA / "bare" / workspace / "warmup", 1)

    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "runtime": str(Path(sys.modules["fabgen_runtime"].__file__ or "?").parent),
        "cpus": os.cpu_count(),
        "cases": {},
    }
    for size in sizes:
        case = run_size(orchestrator, spark, workspace, paths, size, args.rows, args.concurrency)
        results["cases"][str(size)] = case
        print(
            f"{size:>4} exports: fabgen {case['fabgen_s']:.1f}s, bare Spark {case['bare_spark_s']:.1f}s, "
            f"ratio {case['ratio']:.1f}x, target <= {case['target_s']:.1f}s "
            f"({'met' if case['target_met'] else 'missed'}); state-table commits {case['state_commits']} "
            f"= {case['state_commits_total']} (target <= 4: {'met' if case['commits_met'] else 'missed'}); "
            f"load {case['load_before'][0]:.1f}",
            flush=True,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
