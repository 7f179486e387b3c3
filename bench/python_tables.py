"""The Python-engine benchmark's source tables, built with pyarrow + deltalake (no Spark) and
cached under ``$FABGEN_BENCH_DIR`` (default bench/.data) in ``python/onelake``: the orders table
(shaped like bench/cases.py's Spark-built one, same values) and the tiny tables of the group case."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("FABGEN_BENCH_DIR", Path(__file__).resolve().parent / ".data")) / "python"
ONELAKE = DATA / "onelake"
WORKSPACE = "bench_py"
BUILD_BATCH = 1_000_000


def table_path(name: str) -> Path:
    return ONELAKE / WORKSPACE / "lh_src.Lakehouse" / "Tables" / "dbo" / name


def orders_batch(start: int, stop: int) -> Any:
    """Rows ``[start, stop)`` shaped like bench/cases.py's Spark-built orders table."""
    import numpy as np
    import pyarrow as pa

    ids = np.arange(start, stop, dtype=np.int64)
    n = len(ids)
    cents = np.zeros((n, 2), dtype=np.int64)  # decimal128 little-endian: low word, high word (>= 0)
    cents[:, 0] = ids * 7919 % 10_000_000
    days = (18262 + ids % 2000).astype(np.int32)  # 2020-01-01 + id % 2000
    micros = 1_600_000_000_000_000 + ids * 7_654_321
    notes = [hashlib.sha256(str(i).encode()).hexdigest()[:20] for i in range(start, stop)]
    return pa.record_batch(
        [
            pa.array(ids),
            pa.array((ids % 100_000).astype(np.int32)),
            pa.Array.from_buffers(pa.decimal128(18, 2), n, [None, pa.py_buffer(cents.tobytes())]),
            pa.Array.from_buffers(pa.date32(), n, [None, pa.py_buffer(days.tobytes())]),
            pa.Array.from_buffers(pa.timestamp("us", tz="UTC"), n, [None, pa.py_buffer(micros.tobytes())]),
            pa.array(notes, pa.string()),
        ],
        names=["id", "customer_id", "amount", "order_date", "updated_at", "note"],
    )


def ensure_orders(rows: int) -> Path:
    """The orders Delta table of ``rows`` rows (built once, in 1M-row batches, then reused)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    path = table_path(f"orders_{rows}")
    if (path / "_delta_log").is_dir():
        return path
    shutil.rmtree(path, ignore_errors=True)
    print(f"building {rows:,} orders rows into {path} (once) ...", flush=True)
    schema = orders_batch(0, 1).schema

    def batches() -> Iterator[Any]:
        for start in range(0, rows, BUILD_BATCH):
            yield orders_batch(start, min(rows, start + BUILD_BATCH))

    write_deltalake(str(path), pa.RecordBatchReader.from_batches(schema, batches()))
    return path


def ensure_tiny(count: int, rows: int) -> list[Path]:
    """``count`` Delta tables ``t_000..`` of ``rows`` rows (id, name, decimal amount)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    ids = list(range(rows))
    table = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [f"row {i}" for i in ids],
            "amount": pa.array([Decimal(i) * Decimal("1.5") for i in ids], pa.decimal128(18, 2)),
        }
    )
    paths = []
    for index in range(count):
        path = table_path(f"tiny_{rows}_{index:03d}")
        if not (path / "_delta_log").is_dir():
            write_deltalake(str(path), table)
        paths.append(path)
    return paths
