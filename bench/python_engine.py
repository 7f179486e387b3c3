"""Benchmark the Python engine (no JVM) against bare Polars writing the same files.

One command (see bench/README.md)::

    .venv/bin/python bench/python_engine.py [--rows 2000000] [--repeat 3] [--only tiny,write] [--scale]

* tiny: 20 incremental csv exports of 100 rows in ONE execution group, ``max_concurrency`` 4, run
  by ``ExportOrchestrator`` with a ``PythonExportLogger`` (leases, log rows, publish, watermarks:
  the whole run), versus bare Polars reading the same 20 Delta tables and writing them to csv from
  a thread pool of 4. Target: python <= 1.5x Polars + 5 s. Also the state-table commits.
* write: ``--rows`` rows of an orders-shaped table (long id, int, decimal(18,2), date, timestamp,
  20-character string) to one csv, csv.gz (level 6) and parquet (snappy) file: the Python engine's
  data path (``engines.python.read.read`` + ``engines.python.write.write``: the staged file, as
  bench/run.py times the Spark engine's write path) and its whole run through the orchestrator
  (plus publish, lease, log rows, watermark) versus Polars ``scan_delta(...).sink_csv/sink_parquet``
  with the same codec and level, and bare DuckDB (the table through deltalake, ``COPY ... TO``),
  interleaved in rotating order. Target (issue #26): data path <= 1.2x Polars for parquet, <= 1.25x for
  csv and csv.gz, in this process and in fresh processes (``--fresh N``, bench/python_fresh.py).
  Then the Spark engine's whole run on each case (``--no-spark`` skips it), after all of those:
  target python (whole run) <= Spark (whole run). Medians of ``--repeat`` runs.
* scale (``--scale`` / ``--scale-only``): ``--scale-rows`` (20,000,000) rows to ONE csv.gz by the
  orchestrator in a child process whose address space is limited with ``RLIMIT_AS``
  (``--memory-gib``, 2); the file is checked with ``gzip -t`` and its lines counted.

Every source table is built with pyarrow + deltalake (cached under ``$FABGEN_BENCH_DIR`` or
bench/.data). Importing pyspark, py4j or delta-spark raises in this process and in the child, so a
run that would need a JVM fails. Results: bench/results/python_engine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

from python_contenders import (
    BLOCKED,
    WRITE_CASES,
    NoSpark,
    data_path,
    duckdb_write,
    export_row,
    orchestrator,
    polars_tiny,
    polars_write,
    run_group,
    spark_orchestrator,
    target_dir,
    write_row,
)
from python_fresh import TARGET_RATIO, run_fresh
from python_tables import DATA, ensure_orders, ensure_tiny

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
RESULTS = ROOT / "results"

# --------------------------------------------------------------------------- cases


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds of this process (all threads) and the result of ``fn()``."""
    cpu, started = time.process_time(), time.perf_counter()
    value = fn()
    return time.perf_counter() - started, time.process_time() - cpu, value


def med(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def run_tiny(orch: Any, exports: int, rows: int, concurrency: int, repeat: int) -> dict[str, Any]:
    paths = ensure_tiny(exports, rows)
    group = f"tiny_{uuid.uuid4().hex[:6]}"
    run_group(orch, [export_row("warmup", paths[0].name, group)], rows)  # creates the state tables
    polars_tiny(paths[:1], DATA / "out" / "tiny_warmup", 1)
    python_s, polars_s, commits, load = [], [], [], []
    for rep in range(repeat):
        load.append(round(os.getloadavg()[0], 1))
        configs = [export_row(f"e{rep}_{i:03d}", p.name, group) for i, p in enumerate(paths)]
        seconds, made, _ = run_group(orch, configs, rows)
        python_s.append(round(seconds, 2))
        commits.append(made)
        out = DATA / "out" / f"tiny_{rep}"
        shutil.rmtree(out, ignore_errors=True)
        polars_s.append(round(polars_tiny(paths, out, concurrency), 2))
    target = 1.5 * med(polars_s) + 5
    return {
        "exports": exports,
        "rows_per_export": rows,
        "concurrency": concurrency,
        "python_s": med(python_s),
        "polars_s": med(polars_s),
        "ratio": round(med(python_s) / med(polars_s), 2),
        "target_s": round(target, 2),
        "target_met": med(python_s) <= target,
        "state_commits": commits,
        "runs": {"python": python_s, "polars": polars_s},
        "load": load,
    }


def run_write(orch: Any, rows: int, case: str, repeat: int) -> dict[str, Any]:
    """The Python engine (whole run and data path) and bare Polars on one case, interleaved."""
    path = ensure_orders(rows)
    row = write_row(rows, case)
    runs: dict[str, list[float]] = {"python": [], "datapath": [], "polars": [], "duckdb": []}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    sizes: dict[str, int] = {}
    load = []
    out = DATA / "out" / f"polars_{case}"

    def python() -> None:
        shutil.rmtree(target_dir(row), ignore_errors=True)
        wall, used, (_s, _c, result) = timed(lambda: run_group(orch, [row], rows))
        runs["python"].append(round(wall, 2))
        cpu["python"].append(round(used, 2))
        sizes["python"] = result["results"][0]["total_bytes"]
        shutil.rmtree(target_dir(row), ignore_errors=True)

    def datapath() -> None:
        wall, used, sizes["datapath"] = timed(lambda: data_path(row))
        runs["datapath"].append(round(wall, 2))
        cpu["datapath"].append(round(used, 2))

    def polars() -> None:
        out.unlink(missing_ok=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        wall, used, sizes["polars"] = timed(lambda: polars_write(path, case, out))
        runs["polars"].append(round(wall, 2))
        cpu["polars"].append(round(used, 2))
        out.unlink(missing_ok=True)

    def duckdb() -> None:
        target = out.with_name(f"duckdb_{case}")
        target.unlink(missing_ok=True)
        wall, used, sizes["duckdb"] = timed(lambda: duckdb_write(path, case, target))
        runs["duckdb"].append(round(wall, 2))
        cpu["duckdb"].append(round(used, 2))
        target.unlink(missing_ok=True)

    contenders = [python, datapath, polars, duckdb]
    for rep in range(repeat):  # each repeat starts with the next contender: no fixed order favours one
        load.append(round(os.getloadavg()[0], 1))
        turn = rep % len(contenders)
        for contender in contenders[turn:] + contenders[:turn]:
            contender()
    # The write-path target is on the data path (read + encode + staged files), as bench/run.py
    # measures the Spark engine's write path; the whole run adds the group's fixed bookkeeping
    # (lease, log rows, watermark: four state-table commits), measured on its own by the tiny case.
    return {
        "rows": rows,
        "python_s": med(runs["python"]),
        "datapath_s": med(runs["datapath"]),
        "polars_s": med(runs["polars"]),
        "duckdb_s": med(runs["duckdb"]),
        "ratio": round(med(runs["python"]) / med(runs["polars"]), 2),
        "datapath_ratio": round(med(runs["datapath"]) / med(runs["polars"]), 2),
        "datapath_vs_duckdb": round(med(runs["datapath"]) / med(runs["duckdb"]), 2),
        "target_ratio": TARGET_RATIO[case],
        "target_met": med(runs["datapath"]) <= TARGET_RATIO[case] * med(runs["polars"]),
        "whole_run_within_target": med(runs["python"]) <= TARGET_RATIO[case] * med(runs["polars"]),
        "cpu_s": {k: med(v) for k, v in cpu.items()},
        "bytes": sizes,
        "runs": runs,
        "load": load,
    }


def run_spark_write(spark_orch: Any, rows: int, case: str, repeat: int, found: dict[str, Any]) -> None:
    """The Spark engine's whole run on the same case, after every Python/Polars run (its JVM keeps
    working after a run returns: JIT, GC, Delta's log cleanup, which would slow whatever ran next);
    adds its times and the python/Spark ratio to ``found``."""
    spark_row = {**write_row(rows, case), "target_lakehouse": "lh_out_spark"}
    shutil.rmtree(target_dir(spark_row), ignore_errors=True)
    run_group(spark_orch, [spark_row], rows)  # untimed: JIT and the plan cache of this case
    walls, cpus = [], []
    for _ in range(repeat):  # CPU: this process, not the JVM
        shutil.rmtree(target_dir(spark_row), ignore_errors=True)
        wall, used, (_s, _c, result) = timed(lambda: run_group(spark_orch, [spark_row], rows))
        walls.append(round(wall, 2))
        cpus.append(round(used, 2))
        found["bytes"]["spark"] = result["results"][0]["total_bytes"]
        shutil.rmtree(target_dir(spark_row), ignore_errors=True)
    found["runs"]["spark"], found["cpu_s"]["spark"] = walls, med(cpus)
    found["spark_s"] = med(walls)
    found["spark_ratio"] = round(found["python_s"] / med(walls), 2)
    found["spark_target_met"] = found["python_s"] <= med(walls)


# --------------------------------------------------------------------------- scale (child process)


def scale_row(rows: int) -> dict[str, Any]:
    return export_row("scale", f"orders_{rows}", "scale", compression="gzip", compression_level=6)


def child_scale(rows: int) -> int:
    """Runs in the memory-limited child: one full csv.gz export of the table; prints JSON."""
    row = scale_row(rows)
    shutil.rmtree(target_dir(row), ignore_errors=True)
    orch = orchestrator(1)
    seconds, commits, result = run_group(orch, [row], rows)
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    print(
        json.dumps(
            {
                "export_s": round(seconds, 2),
                "commits": commits,
                "vm_hwm_kib": int(status["VmHWM"].split()[0]),  # peak resident set
                "vm_peak_kib": int(status["VmPeak"].split()[0]),  # peak address space (what RLIMIT_AS caps)
                "arrow_pool": __import__("pyarrow").default_memory_pool().backend_name,
                "file": result["results"][0]["file_paths"][0],
                "jvm_modules": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
            }
        )
    )
    return 0


def limit_memory(gib: float) -> Callable[[], None]:
    def apply() -> None:
        if gib <= 0:  # no limit: to measure peak RSS with an allocator RLIMIT_AS refuses
            return
        limit = int(gib * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def run_scale(rows: int, gib: float, arrow_pool: str) -> dict[str, Any]:
    """The scale case. pyarrow's default jemalloc pool cannot even start its background threads
    under RLIMIT_AS (it reserves address space up front), so the child uses ``arrow_pool``
    (``ARROW_DEFAULT_MEMORY_POOL``, default ``system``: glibc malloc)."""
    ensure_orders(rows)
    load = round(os.getloadavg()[0], 1)
    command = [sys.executable, str(Path(__file__).resolve()), "--child-scale", str(rows)]
    # glibc gives each thread that allocates a malloc arena of 64 MiB of address space: the engine's
    # encode/compress and read-ahead threads would spend the RLIMIT_AS on reservations, not rows.
    env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": arrow_pool, "MALLOC_ARENA_MAX": "2"}
    limit = f"RLIMIT_AS {gib} GiB" if gib > 0 else "no memory limit"
    print(f"scale: {rows:,} rows to one csv.gz in a child ({limit}) ...", flush=True)
    started = time.perf_counter()
    proc = subprocess.run(
        command, preexec_fn=limit_memory(gib), env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    outcome: dict[str, Any] = {
        "rows": rows,
        "limit": f"RLIMIT_AS = {gib} GiB (setrlimit in the child's preexec_fn)" if gib > 0 else "none",
        "arrow_pool_env": arrow_pool,
        "malloc_arena_max": env["MALLOC_ARENA_MAX"],
        "exit_code": proc.returncode,
        "wall_s": round(wall, 2),
        "children_maxrss_kib": usage.ru_maxrss,
        "load": load,
    }
    if proc.returncode != 0:
        outcome["stderr_tail"] = proc.stderr[-3000:]
        return outcome
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    outcome.update(child)
    path = child["file"].removeprefix("file://").removeprefix("file:")
    outcome["bytes"] = Path(path).stat().st_size
    outcome["gzip_t_ok"] = subprocess.run(["gzip", "-t", path], check=False).returncode == 0
    count = subprocess.run(
        ["bash", "-o", "pipefail", "-c", 'gzip -dc -- "$1" | wc -l', "count", path],
        capture_output=True,
        text=True,
        check=True,
    )
    outcome["lines"] = int(count.stdout.strip())
    outcome["lines_ok"] = outcome["lines"] == rows + 1  # header + rows
    return outcome


# --------------------------------------------------------------------------- main


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return out.stdout.strip() or "?"


def report(results: dict[str, Any]) -> None:
    tiny = results["cases"].get("tiny")
    if tiny:
        print(
            f"tiny: {tiny['exports']} exports: python {tiny['python_s']}s, Polars {tiny['polars_s']}s, "
            f"{tiny['ratio']}x; target <= {tiny['target_s']}s: {'met' if tiny['target_met'] else 'MISSED'}; "
            f"state-table commits per group {tiny['state_commits']}"
        )
    for case, item in results["cases"].get("write", {}).items():
        print(
            f"{case:8s} python data path {item['datapath_s']:6.2f}s (whole run {item['python_s']:6.2f}s)  "
            f"Polars {item['polars_s']:6.2f}s  DuckDB {item['duckdb_s']:6.2f}s  "
            f"python/Polars {item['datapath_ratio']:.2f}x "
            f"(whole run {item['ratio']:.2f}x; target <= {item['target_ratio']}x: "
            f"{'met' if item['target_met'] else 'MISSED'})"
            + (
                f"  Spark {item['spark_s']:6.2f}s  python/Spark {item['spark_ratio']:.2f}x "
                f"(target <= 1x: {'met' if item['spark_target_met'] else 'MISSED'})"
                if "spark_s" in item
                else ""
            )
        )
    for case, item in results["cases"].get("fresh", {}).items():
        print(
            f"{case:8s} fresh processes ({item['rounds']} rounds): "
            + "  ".join(f"{c} {item['wall_s'][c]:6.2f}s" for c in item["wall_s"])
            + f"  python/Polars {item['datapath_vs_polars']:.2f}x"
            + f"  python/DuckDB {item['datapath_vs_duckdb']:.2f}x"
            + f" (target <= {item['target_ratio']}x: {'met' if item['target_met'] else 'MISSED'})"
        )
    scale = results["cases"].get("scale")
    if scale:
        print(f"scale: {json.dumps(scale)[:1500]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of the write-path table")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="tiny,write", help="tiny, write (comma-separated)")
    parser.add_argument("--cases", default=",".join(WRITE_CASES), help="write cases: csv, csv.gz, parquet")
    parser.add_argument("--exports", type=int, default=20, help="exports in the tiny group")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--scale", action="store_true", help="also run the 20M-row csv.gz scale case")
    parser.add_argument("--scale-only", action="store_true", help="only the scale case")
    parser.add_argument("--scale-rows", type=int, default=20_000_000)
    parser.add_argument(
        "--memory-gib", type=float, default=2.0, help="RLIMIT_AS of the scale child (0: none)"
    )
    parser.add_argument("--arrow-pool", default="system", help="the scale child's pyarrow memory pool")
    parser.add_argument("--child-scale", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--spark",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the Spark engine (local[2], same process) on the write cases",
    )
    parser.add_argument(
        "--fresh",
        type=int,
        default=0,
        help="also time the data path, Polars and DuckDB in N rounds of fresh processes (rotating order)",
    )
    parser.add_argument("--out", default=str(RESULTS / "python_engine.json"))
    args = parser.parse_args(argv)
    only = set() if args.scale_only else {s.strip() for s in args.only.split(",") if s.strip()}
    spark_in_process = args.spark and "write" in only and not args.child_scale
    if not spark_in_process:
        sys.meta_path.insert(0, NoSpark())
    if args.child_scale:
        return child_scale(args.child_scale)
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_before": os.getloadavg(),
        "spark_in_process": spark_in_process,
        "cases": {},
    }
    orch = orchestrator(args.concurrency) if only else None
    if "tiny" in only:
        results["cases"]["tiny"] = run_tiny(orch, args.exports, 100, args.concurrency, args.repeat)
        report(results)
    if "write" in only:
        written = results["cases"]["write"] = {}
        cases = [c.strip() for c in args.cases.split(",") if c.strip()]
        for case in cases:
            written[case] = run_write(orch, args.rows, case, args.repeat)
            print(f"{case}: {written[case]['runs']}", flush=True)
        if spark_in_process:  # after every Python/Polars run: the JVM starts here
            spark_orch = spark_orchestrator()
            for case in cases:
                run_spark_write(spark_orch, args.rows, case, args.repeat, written[case])
                print(f"{case} (spark engine): {written[case]['runs']['spark']}", flush=True)
    if args.fresh and "write" in only:
        cases = [c.strip() for c in args.cases.split(",") if c.strip()]
        results["cases"]["fresh"] = run_fresh(args.rows, cases, args.fresh)
    if args.scale or args.scale_only:
        results["cases"]["scale"] = run_scale(args.scale_rows, args.memory_gib, args.arrow_pool)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["load_after"] = os.getloadavg()
    results["jvm_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    report(results)
    out = Path(args.out)
    if args.scale_only and out.exists():  # keep the other cases of an earlier run in the same file
        earlier = json.loads(out.read_text())
        earlier["cases"]["scale"] = results["cases"]["scale"]
        earlier["scale_run"] = {k: v for k, v in results.items() if k != "cases"}
        results = earlier
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
