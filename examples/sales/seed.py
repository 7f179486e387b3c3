"""Seed the sales example's sources with realistic, deterministic data (one command).

    .venv/bin/python examples/sales/seed.py [--rows 20000] [--project examples/sales]

Writes, through ``fabgen_runtime.platform`` and the project's local environment
(``Project.local_environment()``: OneLake root and PostgreSQL settings from ``fabgen.yaml`` unless
``FABGEN_ONELAKE_ROOT`` / ``FABGEN_PG_*`` are set):

* lakehouse ``DEV_WORKSPACE/lh_gold``, schema ``dbo``, Delta tables ``orders`` (``--rows``),
  ``customers`` (rows / 10, at least 50), ``events`` (rows x 2) and ``fiscal_calendar`` (one row
  per day of the fiscal years July 2023 - June 2026);
* warehouse ``wh_analytics`` (a PostgreSQL database, created when missing), schema ``dbo``:
  ``orders``, ``customers`` (the same rows as the lakehouse's), ``transactions`` (``--rows``) and
  the function ``dbo.fn_GetFiscalMonth(date)`` returning ``TABLE(start_date date, end_date date)``.

Every value derives from a hash of the row id, so the data is the same on every machine and in
every run, whatever Spark's partitioning. Data is built and loaded by Spark (Delta writes, JDBC
batch inserts): nothing is collected to the driver. Re-running replaces everything (idempotent):
the Delta tables are recreated at version 0, the warehouse tables dropped and recreated.
Order and event dates run from 2024-01-01 to 2025-12-12, the demo's run date.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

WORKSPACE = "DEV_WORKSPACE"
LAKEHOUSE = "lh_gold"
WAREHOUSE = "wh_analytics"
SCHEMA = "dbo"
FIRST_DAY = date(2024, 1, 1)
LAST_DAY = date(2025, 12, 12)
CALENDAR = (date(2023, 7, 1), date(2026, 6, 30))  # Australian fiscal years FY2024-FY2026 (July-June)

FIRST_NAMES = [
    "Olivia",
    "Liam",
    "Charlotte",
    "Noah",
    "Amelia",
    "Jack",
    "Isla",
    "William",
    "Mia",
    "Oliver",
    "Ava",
    "Leo",
    "Grace",
    "Henry",
    "Chloe",
    "Lucas",
    "Zoe",
    "Thomas",
    "Ella",
    "James",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Williams",
    "Brown",
    "Wilson",
    "Taylor",
    "Nguyen",
    "Johnson",
    "Martin",
    "White",
    "Anderson",
    "Walker",
    "Thompson",
    "Kelly",
    "Lee",
    "Harris",
    "Ryan",
    "King",
    "Chen",
]

WAREHOUSE_DDL = """
CREATE SCHEMA IF NOT EXISTS dbo;
DROP TABLE IF EXISTS dbo.orders, dbo.customers, dbo.transactions;
CREATE TABLE dbo.customers (
    customer_id   bigint PRIMARY KEY,
    customer_name varchar(100) NOT NULL,
    email         varchar(200) NOT NULL,
    country       char(2) NOT NULL,
    segment       varchar(20) NOT NULL,
    created_at    timestamp NOT NULL,
    modified_at   timestamp NOT NULL
);
CREATE TABLE dbo.orders (
    order_id    bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    order_date  date NOT NULL,
    status      varchar(20) NOT NULL,
    channel     varchar(20) NOT NULL,
    amount      numeric(18, 2) NOT NULL,
    currency    char(3) NOT NULL,
    modified_at timestamp NOT NULL
);
CREATE TABLE dbo.transactions (
    transaction_id   bigint PRIMARY KEY,
    account_id       bigint NOT NULL,
    transaction_date date NOT NULL,
    transaction_type varchar(20) NOT NULL,
    amount           numeric(18, 2) NOT NULL,
    description      varchar(200),
    posted_at        timestamp NOT NULL
);
-- The fiscal month (Australian fiscal year: July-June, months are calendar months) holding p_date.
-- Unquoted, so T-SQL's spelling dbo.fn_GetFiscalMonth('2025-12-12') resolves here too.
CREATE OR REPLACE FUNCTION dbo.fn_GetFiscalMonth(p_date date)
RETURNS TABLE (start_date date, end_date date)
LANGUAGE sql IMMUTABLE AS $$
    SELECT date_trunc('month', p_date)::date,
           (date_trunc('month', p_date) + interval '1 month - 1 day')::date
$$;
"""


# --------------------------------------------------------------------------- data (Spark)


def _hash(salt: str) -> Any:
    """A deterministic non-negative pseudo-random long per row, from the row id and a salt."""
    from pyspark.sql import functions as F

    return F.abs(F.xxhash64(F.lit(salt), F.col("id")))


def _pick(salt: str, values: list[str]) -> Any:
    """One of ``values`` per row, chosen by hash (repeat a value to weight it)."""
    from pyspark.sql import functions as F

    array = F.array(*[F.lit(v) for v in values])
    return F.element_at(array, (F.pmod(_hash(salt), F.lit(len(values))) + 1).cast("int"))


def _between(salt: str, low: int, high: int) -> Any:
    """A deterministic integer in [low, high] per row."""
    from pyspark.sql import functions as F

    return F.pmod(_hash(salt), F.lit(high - low + 1)) + F.lit(low)


def _day(salt: str) -> Any:
    """A date between FIRST_DAY and LAST_DAY."""
    from pyspark.sql import functions as F

    days = (LAST_DAY - FIRST_DAY).days
    return F.date_add(F.lit(FIRST_DAY), _between(salt, 0, days).cast("int"))


def _at(day: Any, salt: str, max_seconds: int = 86_399) -> Any:
    """A timestamp on ``day`` plus a deterministic number of seconds, never after LAST_DAY."""
    from pyspark.sql import functions as F

    at = F.timestamp_seconds(F.unix_timestamp(day.cast("timestamp")) + _between(salt, 0, max_seconds))
    return F.least(at, F.lit(f"{LAST_DAY} 23:59:59").cast("timestamp"))


def customers(spark: Any, count: int) -> Any:
    """Customers 1..count."""
    from pyspark.sql import functions as F

    first, last = _pick("cust.first", FIRST_NAMES), _pick("cust.last", LAST_NAMES)
    customer_id = (F.col("id") + 1).cast("string")
    created = _day("cust.created")
    return spark.range(count, numPartitions=2).select(
        (F.col("id") + 1).alias("customer_id"),
        F.concat_ws(" ", first, last).alias("customer_name"),
        F.lower(F.concat(first, F.lit("."), last, customer_id, F.lit("@example.com"))).alias("email"),
        _pick("cust.country", ["AU"] * 4 + ["NZ", "NZ", "US", "GB", "SG"]).alias("country"),
        _pick("cust.segment", ["consumer"] * 3 + ["small_business", "enterprise"]).alias("segment"),
        _at(created, "cust.created.t").alias("created_at"),
        _at(created, "cust.modified.t", 400 * 86_400).alias("modified_at"),
    )


def orders(spark: Any, count: int, customer_count: int) -> Any:
    """Orders 1..count over FIRST_DAY..LAST_DAY; modified up to 3 days after the order."""
    from pyspark.sql import functions as F

    day = _day("ord.date")
    cents = _between("ord.amount", 500, 250_000) * F.when(_between("ord.big", 0, 49) == 0, 20).otherwise(1)
    return spark.range(count, numPartitions=2).select(
        (F.col("id") + 1).alias("order_id"),
        (_between("ord.customer", 1, customer_count)).alias("customer_id"),
        day.alias("order_date"),
        _pick("ord.status", ["completed"] * 6 + ["shipped"] * 2 + ["cancelled", "returned"]).alias("status"),
        _pick("ord.channel", ["web", "web", "web", "mobile", "mobile", "store", "partner"]).alias("channel"),
        (cents / 100).cast("decimal(18,2)").alias("amount"),
        _pick("ord.currency", ["AUD"] * 8 + ["NZD", "USD"]).alias("currency"),
        _at(day, "ord.modified", 3 * 86_400).alias("modified_at"),
    )


def events(spark: Any, count: int, customer_count: int) -> Any:
    """Web events 1..count with timestamps over FIRST_DAY..LAST_DAY."""
    from pyspark.sql import functions as F

    session = F.concat(F.lit("evt.session"), (F.col("id") / 7).cast("long").cast("string"))
    return spark.range(count, numPartitions=2).select(
        (F.col("id") + 1).alias("event_id"),
        (_between("evt.customer", 1, customer_count)).alias("customer_id"),
        F.substring(F.sha2(session, 256), 1, 16).alias("session_id"),
        _pick("evt.type", ["page_view"] * 6 + ["search"] * 2 + ["add_to_cart", "purchase"]).alias(
            "event_type"
        ),
        _at(_day("evt.day"), "evt.time").alias("event_timestamp"),
        _pick(
            "evt.page", ["/", "/products", "/products/detail", "/search", "/cart", "/checkout", "/account"]
        ).alias("page"),
        _pick("evt.device", ["desktop", "mobile", "mobile", "tablet"]).alias("device"),
    )


def fiscal_calendar(spark: Any) -> Any:
    """One row per day; fiscal years run July-June and are named by the year they end in."""
    from pyspark.sql import functions as F

    start, end = CALENDAR
    day = F.date_add(F.lit(start), F.col("id").cast("int"))
    month = F.month("calendar_date")
    return (
        spark.range((end - start).days + 1, numPartitions=1)
        .select(day.alias("calendar_date"))
        .select(
            "calendar_date",
            (F.year("calendar_date") + F.when(month >= 7, 1).otherwise(0)).alias("fiscal_year"),
            ((month + 5) % 12 + 1).cast("int").alias("fiscal_month"),
            (F.floor(((month + 5) % 12) / 3) + 1).cast("int").alias("fiscal_quarter"),
            F.trunc("calendar_date", "month").alias("fiscal_month_start"),
            F.last_day("calendar_date").alias("fiscal_month_end"),
            F.dayofweek("calendar_date").isin(1, 7).alias("is_weekend"),
        )
    )


def transactions(spark: Any, count: int) -> Any:
    """Ledger transactions 1..count; refunds and fees are negative; posted up to 2 days after the date."""
    from pyspark.sql import functions as F

    day = _day("txn.date")
    kind = _pick("txn.type", ["sale"] * 7 + ["refund", "fee", "transfer"])
    cents = _between("txn.amount", 100, 500_000)
    sign = F.when(kind.isin("refund", "fee"), -1).otherwise(1)
    reference = F.upper(F.substring(F.sha2((F.col("id") + 1).cast("string"), 256), 1, 10))
    return spark.range(count, numPartitions=2).select(
        (F.col("id") + 1).alias("transaction_id"),
        _between("txn.account", 1000, 1999).alias("account_id"),
        day.alias("transaction_date"),
        kind.alias("transaction_type"),
        (cents * sign / 100).cast("decimal(18,2)").alias("amount"),
        F.concat(F.initcap(kind), F.lit(" ref "), reference).alias("description"),
        _at(day, "txn.posted", 2 * 86_400).alias("posted_at"),
    )


# --------------------------------------------------------------------------- loading


def _connect(database: str) -> Any:
    from fabgen.local_load import connect  # the local warehouse of `fabgen local load` (FABGEN_PG_*)

    return connect(database)


def prepare_warehouse(database: str) -> None:
    """Create the database when missing, then (re)create schema dbo's tables and the function."""
    from psycopg2 import sql

    admin = _connect("postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        admin.close()
    conn = _connect(database)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(WAREHOUSE_DDL)
    finally:
        conn.close()


def count_warehouse(database: str) -> dict[str, int]:
    """Row counts of the warehouse tables (an independent read through psycopg2)."""
    conn = _connect(database)
    try:
        with conn.cursor() as cur:
            counts = {}
            for table in ("orders", "customers", "transactions"):
                cur.execute(f"SELECT count(*) FROM dbo.{table}")  # fixed names, not input
                counts[table] = cur.fetchone()[0]
            return counts
    finally:
        conn.close()


def seed(project_dir: Path, rows: int, warehouse: str = WAREHOUSE) -> dict[str, Any]:
    """Seed the project's lakehouse and warehouse; return where it wrote and how many rows."""
    from fabgen.project import load_project
    from fabgen_runtime import platform
    from fabgen_runtime.engines.spark.local_spark import local_spark

    project = load_project(project_dir)
    customer_count = max(50, rows // 10)
    with project.local_environment():
        local = platform.LocalPlatform()  # reads FABGEN_ONELAKE_ROOT set by local_environment()
        clock = time.perf_counter()
        spark = local_spark()
        print(f"  Spark ready in {time.perf_counter() - clock:.1f}s", flush=True)
        lake = {
            "customers": (customers(spark, customer_count), customer_count),
            "orders": (orders(spark, rows, customer_count), rows),
            "events": (events(spark, rows * 2, customer_count), rows * 2),
            "fiscal_calendar": (fiscal_calendar(spark), (CALENDAR[1] - CALENDAR[0]).days + 1),
        }
        summary: dict[str, Any] = {"onelake_root": str(local.onelake_root), "lakehouse": {}, "warehouse": {}}
        for table, (frame, count) in lake.items():
            uri = platform.table_uri(local, WORKSPACE, LAKEHOUSE, SCHEMA, table)
            clock = time.perf_counter()
            # A fresh table (version 0) rather than a new version over the old one: re-seeding gives
            # the same table history every time, and creating is faster than overwriting.
            shutil.rmtree(uri, ignore_errors=True)
            frame.write.format("delta").mode("overwrite").save(uri)
            summary["lakehouse"][table] = count
            seconds = time.perf_counter() - clock
            where = f"{WORKSPACE}/{LAKEHOUSE} {SCHEMA}.{table}"
            print(f"  lakehouse {where}: {count:,} rows ({seconds:.1f}s)", flush=True)

        prepare_warehouse(warehouse)
        conn = local.warehouse(WORKSPACE, warehouse)
        props = {**conn.properties, "batchsize": "10000", "reWriteBatchedInserts": "true"}
        loads = {
            "customers": lake["customers"][0],
            "orders": lake["orders"][0],
            "transactions": transactions(spark, rows),
        }
        clock = time.perf_counter()
        for table, frame in loads.items():
            frame.write.jdbc(conn.jdbc_url, f"{SCHEMA}.{table}", mode="append", properties=props)
        seconds = time.perf_counter() - clock
        summary["warehouse"] = count_warehouse(warehouse)
        for table, count in summary["warehouse"].items():
            print(f"  warehouse {warehouse} {SCHEMA}.{table}: {count:,} rows", flush=True)
        print(f"  warehouse loaded in {seconds:.1f}s", flush=True)
        summary["pg"] = conn.jdbc_url
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line entry point; returns the seed summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=20_000, help="orders (and transactions) to write (default 20,000)"
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="the project folder (default: this example)",
    )
    parser.add_argument(
        "--warehouse", default=WAREHOUSE, help=f"warehouse (PostgreSQL database) name (default {WAREHOUSE})"
    )
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be 1 or more")
    started = time.perf_counter()
    print(f"seeding {args.project} with {args.rows:,} orders...", flush=True)
    summary = seed(args.project, args.rows, args.warehouse)
    print(f"seeded in {time.perf_counter() - started:.1f}s (OneLake: {summary['onelake_root']})", flush=True)
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
