"""The contenders of bench/python_engine.py: the Python engine (whole run through the orchestrator,
and its bare data path), the Spark engine's orchestrator in the same process, and bare Polars and
DuckDB writing the same files; plus the import guard that keeps pyspark out of a JVM-free run.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from python_tables import DATA, ONELAKE, WORKSPACE

RUN_DATE = "2025-12-12"
BLOCKED = ("pyspark", "py4j", "delta")
WRITE_CASES: dict[str, dict[str, Any]] = {
    "csv": {"file_format": "csv"},
    "csv.gz": {"file_format": "csv", "compression": "gzip", "compression_level": 6},
    "parquet": {"file_format": "parquet", "compression": "snappy"},
}


class NoSpark(importlib.abc.MetaPathFinder):
    """Refuses pyspark, py4j and delta-spark: the benchmark must run without a JVM."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} imported by the Python-engine benchmark")
        return None


# --------------------------------------------------------------------------- the Python engine


def export_row(name: str, table: str, group: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "export_group_name": group,
        "export_name": name,
        "is_active": True,
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_workspace": WORKSPACE,
        "source_datastore": "lh_src",
        "source_table": table,
        "target_workspace": WORKSPACE,
        "target_lakehouse": "lh_out",
        "target_path": f"{group}/{name}",
        "target_filename_pattern": name + "_{run_id}.{ext}",
        "file_format": "csv",
    }
    row.update(overrides)
    return row


def write_row(rows: int, case: str) -> dict[str, Any]:
    """The export row of write case ``case`` on the ``rows``-row orders table."""
    return export_row(f"w_{case.replace('.', '_')}", f"orders_{rows}", "write", **WRITE_CASES[case])


def target_dir(row: dict[str, Any]) -> Path:
    return ONELAKE / WORKSPACE / "lh_out.Lakehouse" / "Files" / row["target_path"]


def orchestrator(concurrency: int) -> Any:
    from fabgen_runtime import ExportOrchestrator
    from fabgen_runtime import platform as platform_mod
    from fabgen_runtime.engines.python.state import PythonExportLogger

    local = platform_mod.LocalPlatform(str(ONELAKE))
    platform_mod.use(local)
    logger = PythonExportLogger({"workspace": WORKSPACE, "lakehouse": "lh_config"}, platform=local)
    return ExportOrchestrator(None, logger, concurrency, platform=local)


def spark_orchestrator() -> Any:
    """An orchestrator on the Spark engine (``local[2]``: the machine's 2 cores), in this process,
    on the same OneLake folder (its own config lakehouse, so each engine keeps its state tables)."""
    os.environ.setdefault("FABGEN_SPARK_MASTER", "local[2]")
    os.environ["FABGEN_ONELAKE_ROOT"] = str(ONELAKE)
    os.environ.setdefault("FABGEN_SPARK_WAREHOUSE", str(DATA / "spark-warehouse"))
    from fabgen_runtime import ExportLogger, ExportOrchestrator
    from fabgen_runtime import platform as platform_mod

    local = platform_mod.current()
    spark = local.spark()
    logger = ExportLogger(
        {"workspace": WORKSPACE, "lakehouse": "lh_config_spark"}, spark=spark, platform=local
    )
    return ExportOrchestrator(spark, logger, 1, platform=local)


def run_group(orch: Any, rows: list[dict[str, Any]], expected: int) -> tuple[float, int, dict[str, Any]]:
    """Seconds and state-table commits of one execution group; checks every export's rows."""
    commits = getattr(orch.logger, "commits", 0)
    started = time.perf_counter()
    result = orch.process_exports(rows, f"bench-{uuid.uuid4().hex[:8]}", run_date=RUN_DATE, timezone="UTC")
    seconds = time.perf_counter() - started
    exported = [r["rows_exported"] for r in result["results"]]
    if not result["success"] or exported != [expected] * len(rows):
        raise SystemExit(f"python-engine group failed: {json.dumps(result, default=str)[:3000]}")
    return seconds, getattr(orch.logger, "commits", 0) - commits, result


def data_path(row: dict[str, Any]) -> int:
    """The bare data path: read + write into staging (no publish, no log); staging is removed."""
    from fabgen_runtime import platform as platform_mod
    from fabgen_runtime.configs import parse_config
    from fabgen_runtime.engines.python import read, write
    from fabgen_runtime.plan import RunContext, build_plan

    plan = build_plan(parse_config(row), RunContext.create(RUN_DATE), export_run_id=str(uuid.uuid4()))
    local = platform_mod.current()
    source = read.read(plan, local)
    try:
        staged = write.write(source.reader, plan, local)
    finally:
        source.reader.close()
    size = sum(f.size for f in staged.files)
    shutil.rmtree(staged.staging_uri.removeprefix("file://").removeprefix("file:"), ignore_errors=True)
    return size


# --------------------------------------------------------------------------- bare Polars


def polars_write(path: Path, case: str, out: Path) -> int:
    import polars as pl

    frame = pl.scan_delta(str(path))
    spec = WRITE_CASES[case]
    if spec["file_format"] == "parquet":
        frame.sink_parquet(out, compression="snappy")
    elif spec.get("compression") == "gzip":
        frame.sink_csv(out, compression="gzip", compression_level=6)
    else:
        frame.sink_csv(out)
    return out.stat().st_size


# --------------------------------------------------------------------------- bare DuckDB


def duckdb_write(path: Path, case: str, out: Path) -> int:
    """The Delta table read through deltalake (its pyarrow dataset) into DuckDB, then ``COPY ... TO``.

    DuckDB's gzip level is its own (not settable in ``COPY``); parquet with snappy, as the others."""
    import duckdb
    from deltalake import DeltaTable

    source = DeltaTable(str(path)).to_pyarrow_dataset()
    spec = WRITE_CASES[case]
    if spec["file_format"] == "parquet":
        options = "FORMAT parquet, COMPRESSION snappy"
    elif spec.get("compression") == "gzip":
        options = "FORMAT csv, HEADER, COMPRESSION gzip"
    else:
        options = "FORMAT csv, HEADER"
    target = str(out).replace("'", "''")
    with duckdb.connect() as con:
        con.register("source", source)
        con.execute(f"COPY source TO '{target}' ({options})")
    return out.stat().st_size


def polars_tiny(paths: list[Path], out: Path, concurrency: int) -> float:
    import polars as pl

    out.mkdir(parents=True, exist_ok=True)

    def one(item: tuple[int, Path]) -> None:
        index, path = item
        pl.read_delta(str(path)).write_csv(out / f"t_{index:03d}.csv")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, enumerate(paths)))
    return time.perf_counter() - started
