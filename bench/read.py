"""Benchmark fabgen's read path: a warehouse bulk export, and the bookkeeping overhead of a tiny export.

One command::

    .venv/bin/python bench/read.py [--rows 5000000] [--repeat 3] [--only warehouse,overhead]

* warehouse: a ``--rows`` PostgreSQL table (long id primary key, int, decimal(18,2), date,
  timestamp, 20-character string) exported to one ``.csv.gz`` (level 6) by ``fabgen`` (the
  orchestrator: partitioned Spark JDBC read, writer, publish, log tables) versus
  ``psql \\copy (SELECT ...) TO STDOUT csv`` piped through ``pigz -p 2``. Target: within 2x.
* overhead: a 10-row lakehouse table exported to one .csv by the orchestrator, start to finish
  including both log tables and the watermark (an incremental export), versus a bare Spark write of
  the same rows on the same warm session. Target: within 3 s.

Medians of ``--repeat`` runs; results go to bench/results/read.json. Needs the local warehouse
(``scripts/warehouse.sh start``) and ``pigz`` (``apt-get install pigz``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
DATA = Path(os.environ.get("FABGEN_BENCH_DIR", ROOT / ".data")) / "read"
RESULTS = ROOT / "results"
WORKSPACE = "bench_read"
WAREHOUSE = "wh_bench"
PG = {
    "host": os.environ.get("FABGEN_PG_HOST", "127.0.0.1"),
    "port": os.environ.get("FABGEN_PG_PORT", "54329"),
    "user": os.environ.get("FABGEN_PG_USER", "fabgen"),
    "password": os.environ.get("FABGEN_PG_PASSWORD", "fabgen"),
}


def pg(database: str):
    import psycopg2

    conn = psycopg2.connect(dbname=database, **PG)
    conn.autocommit = True
    return conn


def ensure_warehouse_table(rows: int) -> None:
    """Create wh_bench.dbo.orders with ``rows`` rows (kept between runs when the count matches)."""
    admin = pg("postgres")  # no `with`: psycopg2 would open a transaction, and CREATE DATABASE refuses one
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (WAREHOUSE,))
        if not cur.fetchone():
            cur.execute(f"CREATE DATABASE {WAREHOUSE}")
    admin.close()
    conn = pg(WAREHOUSE)
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('dbo.orders') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("SELECT count(*) FROM dbo.orders")
            if cur.fetchone()[0] == rows:
                return
        print(f"building {WAREHOUSE}.dbo.orders with {rows:,} rows ...", flush=True)
        cur.execute("DROP SCHEMA IF EXISTS dbo CASCADE; CREATE SCHEMA dbo")
        cur.execute(
            "CREATE TABLE dbo.orders (order_id bigint PRIMARY KEY, customer_id int, amount numeric(18,2), "
            "order_date date, modified_at timestamp, note varchar(20))"
        )
        cur.execute(
            "INSERT INTO dbo.orders SELECT g, (g * 7919) %% 100000, ((g * 104729) %% 1000000) / 100.0, "
            "DATE '2024-01-01' + (g %% 700)::int, TIMESTAMP '2024-01-01' + g * INTERVAL '1 second', "
            "substr(md5(g::text), 1, 20) FROM generate_series(1::bigint, %s) g",
            (rows,),
        )
        cur.execute("VACUUM ANALYZE dbo.orders")


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def time_psql_pigz(out: Path) -> float:
    env = {**os.environ, "PGPASSWORD": PG["password"]}
    command = (
        f"psql -X -q -h {PG['host']} -p {PG['port']} -U {PG['user']} -d {WAREHOUSE} "
        '-c "\\copy (SELECT * FROM dbo.orders) TO STDOUT WITH (FORMAT csv, HEADER)" '
        f"| pigz -p 2 -6 > {out}"
    )
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, env=env)
    return time.perf_counter() - started


def export_row(
    name: str, workspace: str = WORKSPACE, group: str = "bench", **overrides: Any
) -> dict[str, Any]:
    """A csv export row of the benchmarks (``overrides`` set the source and anything else)."""
    row = dict(
        export_group_name=group,
        export_name=name,
        is_active=True,
        execution_group=1,
        source_workspace=workspace,
        target_workspace=workspace,
        target_lakehouse="lh_out",
        target_path=f"bench/{name}",
        target_filename_pattern=name + ".csv",
        file_format="csv",
        file_format_options={"header": "true"},
    )
    row.update(overrides)
    return row


def run_warehouse(orchestrator: Any, rows: int, repeat: int) -> dict[str, Any]:
    ensure_warehouse_table(rows)
    config = export_row(
        "wh_orders",
        source_type="warehouse",
        source_datastore=WAREHOUSE,
        source_schema="dbo",
        source_table="orders",
        compression="gzip",
        compression_level=6,
    )
    fabgen, reference = [], []
    out = DATA / "psql.csv.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(repeat):
        started = time.perf_counter()
        result = orchestrator.process_exports([config], str(uuid.uuid4()))
        fabgen.append(time.perf_counter() - started)
        assert result["success"] and result["results"][0]["rows_exported"] == rows, result
        reference.append(time_psql_pigz(out))
    return {
        "rows": rows,
        "fabgen_s": median(fabgen),
        "psql_pigz_s": median(reference),
        "ratio": round(median(fabgen) / median(reference), 2),
        "target_ratio": 2.0,
        "runs": {"fabgen": fabgen, "psql_pigz": reference},
    }


def run_overhead(spark: Any, local: Any, orchestrator: Any, repeat: int) -> dict[str, Any]:
    from fabgen_runtime import platform

    path = platform.table_uri(local, WORKSPACE, "lh_src", "dbo", "tiny")
    spark.sql(
        "SELECT id, TIMESTAMP'2025-01-01' + make_interval(0,0,0,0,0,0,id) AS ts FROM range(10)"
    ).write.format("delta").mode("overwrite").save(path)

    def config(name: str) -> dict[str, Any]:
        # A new export name per run starts from the initial watermark (10 rows each time); {run_id}
        # keeps every run's file (an incremental run never replaces an earlier run's file).
        return export_row(
            name,
            source_type="lakehouse",
            source_datastore="lh_src",
            source_table="tiny",
            extract_type="incremental",
            incremental_column="ts",
            target_filename_pattern=name + "_{run_id}.csv",
        )

    orchestrator.process_exports([config("tiny_warmup")], str(uuid.uuid4()))  # warm up: tables exist
    fabgen, bare = [], []
    bare_dir = DATA / "bare_tiny"
    for index in range(repeat):
        name = f"tiny_{uuid.uuid4().hex[:8]}_{index}"
        started = time.perf_counter()
        result = orchestrator.process_exports([config(name)], str(uuid.uuid4()))
        fabgen.append(time.perf_counter() - started)
        assert result["results"][0]["rows_exported"] == 10, result
        started = time.perf_counter()
        spark.read.format("delta").load(path).write.mode("overwrite").option("header", "true").csv(
            str(bare_dir)
        )
        bare.append(time.perf_counter() - started)
    return {
        "fabgen_s": median(fabgen),
        "bare_spark_s": median(bare),
        "overhead_s": round(median(fabgen) - median(bare), 2),
        "target_overhead_s": 3.0,
        "runs": {"fabgen": fabgen, "bare": bare},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="warehouse,overhead")
    args = parser.parse_args(argv)
    if shutil.which("pigz") is None and "warehouse" in args.only:
        print("pigz is missing: apt-get install pigz", file=sys.stderr)
        return 2
    os.environ.setdefault("FABGEN_ONELAKE_ROOT", str(DATA / "onelake"))
    os.environ["FABGEN_PLATFORM"] = "local"
    subprocess.run(["bash", str(REPO / "scripts" / "warehouse.sh"), "start"], check=True)
    from fabgen_runtime import ExportLogger, ExportOrchestrator, platform

    local = platform.LocalPlatform(os.environ["FABGEN_ONELAKE_ROOT"])
    platform.use(local)
    spark = local.spark()
    logger = ExportLogger({"workspace": WORKSPACE, "lakehouse": "lh_config"}, spark=spark, platform=local)
    orchestrator = ExportOrchestrator(spark, logger, max_concurrency=2, platform=local)
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load": os.getloadavg()}
    if "overhead" in args.only:
        results["overhead"] = run_overhead(spark, local, orchestrator, args.repeat)
        print(
            f"overhead: {json.dumps({k: v for k, v in results['overhead'].items() if k != 'runs'})}",
            flush=True,
        )
    if "warehouse" in args.only:
        results["warehouse"] = run_warehouse(orchestrator, args.rows, args.repeat)
        print(
            f"warehouse: {json.dumps({k: v for k, v in results['warehouse'].items() if k != 'runs'})}",
            flush=True,
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "read.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
