"""Lakehouse query-mode cases both engines must run alike (``source_query``, ``period_date_query``).

Two Delta tables in ``lh_gold.dbo`` written with delta-rs (Spark reads them as well): ``orders``
(:func:`python_engine_support.source_table`: NULLs, decimals, dates, UTC timestamps with
microseconds, awkward strings) and ``customers``. Each :class:`QueryCase` holds the query, what the
export adds (incremental, period) and ``expected``: its rows computed independently with pandas, so
``tests/unit/test_python_engine_query.py`` checks the Python engine's values without a JVM, and
``tests/integration/test_engine_equivalence_query.py`` compares both engines' files (JVM).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
from deltalake import write_deltalake
from fabgen_runtime import platform
from python_engine_support import source_table

ORDERS_ROWS = 60
PERIOD = (datetime(2025, 1, 12), datetime(2025, 1, 21))
WATERMARK = "2025-01-01T00:20:00"
PERIOD_QUERY = (
    "SELECT date_add(min(order_date), 10) AS start_date, date_add(min(order_date), 19) AS end_date "
    "FROM {orders} WHERE order_date <= DATE '{{run_date:%Y-%m-%d}}'"
)


def customers() -> pa.Table:
    """Ten customers: ids 0-9, two cities, a credit limit (decimal, one NULL)."""
    ids = list(range(10))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [f"customer {i}" for i in ids],
            "city": ["Oslo" if i % 2 else "Rome" for i in ids],
            "credit": pa.array(
                [None if i == 3 else Decimal(i * 1000) / 8 for i in ids], pa.decimal128(10, 3)
            ),
        }
    )


@dataclass(frozen=True)
class Tables:
    """The two source tables of one test session: their names in ``lh_gold.dbo`` and their rows."""

    orders: str
    customers: str
    orders_rows: pa.Table
    customers_rows: pa.Table

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return self.orders_rows.to_pandas(), self.customers_rows.to_pandas()


def write_tables(local_platform: Any) -> Tables:
    """Both tables, one data file each (so every engine reads the rows in one order)."""
    suffix = uuid.uuid4().hex[:8]
    names = {"orders": f"q_orders_{suffix}", "customers": f"q_customers_{suffix}"}
    rows = {"orders": source_table(ORDERS_ROWS), "customers": customers()}
    for key, name in names.items():
        write_deltalake(platform.table_uri(local_platform, "ws", "lh_gold", "dbo", name), rows[key])
    return Tables(names["orders"], names["customers"], rows["orders"], rows["customers"])


Expected = Callable[[pd.DataFrame, pd.DataFrame], list[dict[str, Any]]]


@dataclass(frozen=True)
class QueryCase:
    """One query-mode export: the query (``{orders}``/``{customers}`` name the tables), the config
    it adds, and its expected rows (pandas)."""

    name: str
    query: str
    expected: Expected
    config: dict[str, Any] = field(default_factory=dict)
    watermark: str | None = None
    period: tuple[datetime, datetime] | None = None

    def sql(self, tables: Tables) -> str:
        return self.query.replace("{orders}", f"dbo.{tables.orders}").replace(
            "{customers}", f"dbo.{tables.customers}"
        )


def _none(value: Any) -> Any:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _none(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _joined(orders: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    left = orders.assign(cid=orders["id"] % 10)
    return left.merge(people, left_on="cid", right_on="id", suffixes=("", "_c")).sort_values("id")


def _join(orders: pd.DataFrame, people: pd.DataFrame) -> list[dict[str, Any]]:
    rows = _joined(orders, people)
    rows = rows[rows["id"] <= 30]
    return _records(rows[["id", "name", "city", "credit"]])


def _aggregate(orders: pd.DataFrame, people: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for city, rows in sorted(_joined(orders, people).groupby("city")):
        out.append(
            {
                "city": city,
                "n": len(rows),
                "qty_count": int(rows["qty"].count()),
                "total_qty": int(rows["qty"].sum()),
                "total_amount": sum(rows["amount"], Decimal(0)),
                "last_update": rows["updated_at"].max().to_pydatetime(),
            }
        )
    return out


def _window(orders: pd.DataFrame, _people: pd.DataFrame) -> list[dict[str, Any]]:
    rows = orders.sort_values("id").copy()
    rows["rn"] = rows.groupby("order_date").cumcount() + 1
    running, total = [], Decimal(0)
    for amount in rows["amount"]:
        total += amount
        running.append(total)
    rows["running"] = running
    rows["prev_qty"] = rows["qty"].shift(1)
    return _records(rows[["id", "rn", "running", "prev_qty"]])


def _sign(qty: Any) -> str:
    if _none(qty) is None:
        return "none"
    return "neg" if qty < 0 else "pos"


def _case(orders: pd.DataFrame, _people: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"id": int(r.id), "sign": _sign(r.qty)} for r in orders.sort_values("id").itertuples()]


def _zone_moment(moment: datetime | None, zone: str, to_utc: bool) -> datetime | None:
    if moment is None:
        return None
    wall = moment.replace(tzinfo=None)
    if to_utc:  # the UTC wall time read as the zone's wall time
        return wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=UTC)  # the zone's wall time, as UTC


def _dates(orders: pd.DataFrame, _people: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in orders.sort_values("id").to_dict("records"):
        ts = _none(r["updated_at"])
        moment = ts.to_pydatetime() if ts is not None else None
        day: date = r["order_date"]
        out.append(
            {
                "id": r["id"],
                "utc_text": moment.strftime("%Y-%m-%d %H:%M:%S") if moment else None,
                "amsterdam": _zone_moment(moment, "Europe/Amsterdam", to_utc=False),
                "from_ny": _zone_moment(moment, "America/New_York", to_utc=True),
                "d": moment.date() if moment else None,
                "next_week": day + timedelta(days=7),
                "age": (day - date(2025, 1, 1)).days,
                "y": day.year,
                "m": day.month,
                "h": moment.hour if moment else None,
            }
        )
    return out


def _strings(orders: pd.DataFrame, _people: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in orders.sort_values("id").to_dict("records"):
        note = _none(r["note"])
        out.append(
            {
                "id": r["id"],
                "u": note.upper() if note is not None else None,
                "len": len(note) if note is not None else None,
                "tag": f"#{r['id']}-{note or ''}",
                "sub": note[1:4] if note is not None else None,
                "t": note.strip(" ") if note is not None else None,
                "r": note.replace("a", "A") if note is not None else None,
                "padded": str(r["id"]).rjust(6, "0"),
            }
        )
    return out


def _decimals(orders: pd.DataFrame, _people: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in orders.sort_values("id").to_dict("records"):
        amount: Decimal = r["amount"]
        out.append(
            {
                "id": r["id"],
                "amount": amount,
                "doubled": amount * 2,
                "plus": amount + Decimal("0.005"),
                "wide": amount.quantize(Decimal("0.0001")),
                "r1": amount.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP),
            }
        )
    return out


def _nulls(orders: pd.DataFrame, _people: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in orders.sort_values("id").to_dict("records"):
        qty, note = _none(r["qty"]), _none(r["note"])
        out.append(
            {
                "id": r["id"],
                "q": int(qty) if qty is not None else -1,
                "n": note if note is not None else "n/a",
                "missing": qty is None,
                "nz": None if qty in (None, 0) else int(qty),
                "e": None if note is None else ("empty" if note == "" else "text"),
            }
        )
    return out


def _incremental(orders: pd.DataFrame, _people: pd.DataFrame) -> list[dict[str, Any]]:
    limit = pd.Timestamp(WATERMARK, tz="UTC")
    rows = orders[(orders["updated_at"] > limit) & (orders["order_date"] <= date(2025, 12, 12))]
    return _records(rows.sort_values("id")[["id", "amount", "updated_at"]])


def _period(orders: pd.DataFrame, _people: pd.DataFrame) -> list[dict[str, Any]]:
    start, end = PERIOD[0].date(), PERIOD[1].date()
    rows = orders[(orders["order_date"] >= start) & (orders["order_date"] <= end)]
    return _records(rows.sort_values("id")[["id", "order_date", "amount"]])


CASES = [
    QueryCase(
        "join",
        "SELECT o.id, c.name, c.city, c.credit FROM {orders} o JOIN {customers} c ON o.id % 10 = c.id "
        "WHERE o.id <= 30 ORDER BY o.id",
        _join,
    ),
    QueryCase(
        "aggregate",
        "SELECT c.city, count(*) AS n, count(o.qty) AS qty_count, sum(o.qty) AS total_qty, "
        "sum(o.amount) AS total_amount, max(o.updated_at) AS last_update "
        "FROM {orders} AS o JOIN {customers} AS c ON o.id % 10 = c.id GROUP BY c.city ORDER BY c.city",
        _aggregate,
    ),
    QueryCase(
        "window",
        "SELECT id, row_number() OVER (PARTITION BY order_date ORDER BY id) AS rn, "
        "sum(amount) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running, "
        "lag(qty) OVER (ORDER BY id) AS prev_qty FROM {orders} ORDER BY id",
        _window,
    ),
    QueryCase(
        "case",
        "SELECT id, CASE WHEN qty IS NULL THEN 'none' WHEN qty < 0 THEN 'neg' ELSE 'pos' END AS sign "
        "FROM {orders} ORDER BY id",
        _case,
    ),
    QueryCase(
        "dates-time-zones",
        "SELECT id, date_format(updated_at, 'yyyy-MM-dd HH:mm:ss') AS utc_text, "
        "from_utc_timestamp(updated_at, 'Europe/Amsterdam') AS amsterdam, "
        "to_utc_timestamp(updated_at, 'America/New_York') AS from_ny, to_date(updated_at) AS d, "
        "date_add(order_date, 7) AS next_week, datediff(order_date, DATE '2025-01-01') AS age, "
        "year(order_date) AS y, month(order_date) AS m, hour(updated_at) AS h FROM {orders} ORDER BY id",
        _dates,
    ),
    QueryCase(
        "strings",
        "SELECT id, upper(note) AS u, length(note) AS len, "
        "concat('#', CAST(id AS STRING), '-', coalesce(note, '')) AS tag, substring(note, 2, 3) AS sub, "
        "trim(note) AS t, replace(note, 'a', 'A') AS r, lpad(CAST(id AS STRING), 6, '0') AS padded "
        "FROM {orders} ORDER BY id",
        _strings,
    ),
    QueryCase(
        "decimals",
        "SELECT id, amount, amount * 2 AS doubled, amount + 0.005 AS plus, "
        "CAST(amount AS DECIMAL(20,4)) AS wide, round(amount, 1) AS r1 FROM {orders} ORDER BY id",
        _decimals,
    ),
    QueryCase(
        "nulls",
        "SELECT id, coalesce(qty, -1) AS q, nvl(note, 'n/a') AS n, qty IS NULL AS missing, "
        "nullif(qty, 0) AS nz, "
        "CASE WHEN note = '' THEN 'empty' WHEN note IS NULL THEN NULL ELSE 'text' END AS e "
        "FROM {orders} ORDER BY id",
        _nulls,
    ),
    QueryCase(
        "placeholders-incremental",
        "SELECT id, amount, updated_at FROM {orders} WHERE updated_at > '{watermark}' "
        "AND order_date <= DATE '{run_date:%Y-%m-%d}' ORDER BY id",
        _incremental,
        config={"extract_type": "incremental", "incremental_column": "updated_at"},
        watermark=WATERMARK,
    ),
    QueryCase(
        "period",
        "SELECT id, order_date, amount FROM {orders} "
        "WHERE order_date BETWEEN '{period_start_date:%Y-%m-%d}' AND '{period_end_date:%Y-%m-%d}' "
        "ORDER BY id",
        _period,
        period=PERIOD,
    ),
]


def case_plan(case: QueryCase, tables: Tables, **changes: Any) -> Any:
    """The plan of ``case`` in query mode over ``tables`` (``changes``: other config fields)."""
    from writer_support import make_plan, unique_lakehouse

    return make_plan(
        unique_lakehouse(),
        watermark=case.watermark,
        period=case.period,
        source_table=None,
        source_query=case.sql(tables),
        **{**case.config, **changes},
    )
