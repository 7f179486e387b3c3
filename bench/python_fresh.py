"""bench/python_engine.py's write contenders, each timed in a fresh process, in rotating order.

``python_engine.py --fresh N`` runs, for each write case, N rounds of three new interpreters: the
Python engine's data path, bare Polars and bare DuckDB (:mod:`python_contenders`). Each child
imports what it needs, then times only the write (wall and CPU seconds of the child), so no
contender inherits another's warm caches, thread pools or allocator; each round starts with the
next contender. The child's whole process time (start-up and imports included) is reported too.
The source table must exist (the in-process cases build it first).

A child by hand: ``python bench/python_fresh.py datapath parquet 5000000``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from python_contenders import (
    NoSpark,
    data_path,
    duckdb_write,
    orchestrator,
    polars_write,
    write_row,
)
from python_tables import DATA, ensure_orders

CONTENDERS = ("datapath", "polars", "duckdb")
#: issue #26's targets for the data path against bare Polars
TARGET_RATIO = {"csv": 1.25, "csv.gz": 1.25, "parquet": 1.2}


def child(contender: str, case: str, rows: int) -> dict[str, Any]:
    """One timed write in this (fresh) process."""
    sys.meta_path.insert(0, NoSpark())
    path = ensure_orders(rows)
    out = DATA / "out" / f"fresh_{contender}_{case}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    if contender == "datapath":
        orchestrator(1)  # the local platform the data path writes through
        row = write_row(rows, case)
        write = lambda: data_path(row)  # noqa: E731
    elif contender == "polars":
        write = lambda: polars_write(path, case, out)  # noqa: E731
    else:
        write = lambda: duckdb_write(path, case, out)  # noqa: E731
    cpu, started = time.process_time(), time.perf_counter()
    size = write()
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    out.unlink(missing_ok=True)
    return {"wall_s": round(wall, 3), "cpu_s": round(used, 3), "bytes": size}


def medians(runs: dict[str, list[dict[str, Any]]], field: str) -> dict[str, float]:
    return {c: round(statistics.median(r[field] for r in items), 2) for c, items in runs.items()}


def run_fresh(rows: int, cases: list[str], rounds: int) -> dict[str, Any]:
    """Medians per contender and case over ``rounds`` rounds of fresh processes."""
    found: dict[str, Any] = {}
    for case in cases:
        runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTENDERS}
        load = []
        for index in range(rounds):
            load.append(round(os.getloadavg()[0], 1))
            turn = index % len(CONTENDERS)
            for contender in CONTENDERS[turn:] + CONTENDERS[:turn]:
                started = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, str(Path(__file__)), contender, case, str(rows)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if proc.returncode != 0:
                    raise SystemExit(f"fresh {contender} {case} failed:\n{proc.stderr[-3000:]}")
                item = json.loads(proc.stdout.strip().splitlines()[-1])
                item["process_s"] = round(time.perf_counter() - started, 3)
                runs[contender].append(item)
        wall = medians(runs, "wall_s")
        found[case] = {
            "rounds": rounds,
            "wall_s": wall,
            "cpu_s": medians(runs, "cpu_s"),
            "process_s": medians(runs, "process_s"),
            "bytes": {c: runs[c][-1]["bytes"] for c in CONTENDERS},
            "datapath_vs_polars": round(wall["datapath"] / wall["polars"], 2),
            "datapath_vs_duckdb": round(wall["datapath"] / wall["duckdb"], 2),
            "target_ratio": TARGET_RATIO[case],
            "target_met": wall["datapath"] <= TARGET_RATIO[case] * wall["polars"],
            "runs": runs,
            "load": load,
        }
        print(f"{case} (fresh processes): {wall}", flush=True)
    return found


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
