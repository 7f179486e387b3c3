"""Small fabgen projects written into a temporary folder, for the render tests."""

from __future__ import annotations

from pathlib import Path

import yaml

PROJECT = {
    "name": "shop",
    "configs": ["exports"],
    "config_lakehouse": {"workspace": "DEV_WORKSPACE", "lakehouse": "lh_config"},
    "defaults": {"timezone": "Australia/Sydney", "max_concurrency": 3},
    "environments": {
        "prod": {
            "workspace_id": "7d1e0000-0000-4000-8000-000000000001",
            "workspaces": {
                "DEV_WORKSPACE": {"name": "PROD_WORKSPACE", "id": "7d1e0000-0000-4000-8000-000000000002"},
            },
            "lakehouses": {
                "DEV_WORKSPACE/lh_config": {
                    "name": "lh_config_prod",
                    "id": "0b9a0000-0000-4000-8000-000000000003",
                },
                "DEV_WORKSPACE/lh_exports": {"id": "0b9a0000-0000-4000-8000-000000000004"},
            },
            "warehouses": {"DEV_WORKSPACE/wh_sales": {"name": "wh_sales_prod"}},
        },
    },
}

COMMON = {
    "is_active": True,
    "source_workspace": "DEV_WORKSPACE",
    "target_workspace": "DEV_WORKSPACE",
    "target_lakehouse": "lh_exports",
}

EXPORTS = [
    # group "sales": execution groups 1 (two exports) and 2 (one), plus an inactive one.
    {
        **COMMON,
        "export_group_name": "sales",
        "export_name": "customers",
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_datastore": "lh_gold",
        "source_table": "customers",
        "target_path": "sales/customers/",
        "target_filename_pattern": "customers_{run_date:%Y%m%d}.csv",
        "file_format": "csv",
        "compression": "gzip",
        "file_format_options": {"header": "true", "sep": "|"},
    },
    {
        **COMMON,
        "export_group_name": "sales",
        "export_name": "products",
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_datastore": "lh_gold",
        "source_table": "products",
        "source_columns": ["id", "name"],
        "target_path": "sales/products/",
        "file_format": "parquet",
    },
    {
        **COMMON,
        "export_group_name": "sales",
        "export_name": "orders",
        "execution_group": 2,
        "source_type": "warehouse",
        "source_datastore": "wh_sales",
        "source_schema": "dbo",
        "source_query": (
            "SELECT o.order_id, o.amount\nFROM dbo.orders o\nWHERE o.order_date >= '{run_date:%Y-%m-%d}'"
        ),
        "target_path": "sales/orders/{run_date:%Y}/",
        "target_filename_pattern": "orders_{run_date:%Y%m%d}.json",
        "file_format": "json",
        "trigger_file_pattern": "orders_{run_date:%Y%m%d}.done",
    },
    {
        **COMMON,
        "export_group_name": "sales",
        "export_name": "retired",
        "execution_group": 5,
        "is_active": False,
        "source_type": "lakehouse",
        "source_datastore": "lh_gold",
        "source_table": "old",
        "target_path": "old/",
        "file_format": "csv",
    },
    # group "ops.daily": one execution group numbered 3 (not 1), incremental.
    {
        **COMMON,
        "export_group_name": "ops.daily",
        "export_name": "events",
        "execution_group": 3,
        "source_type": "lakehouse",
        "source_datastore": "lh_gold",
        "source_table": "events",
        "extract_type": "incremental",
        "incremental_column": "event_ts",
        "target_path": "ops/events/",
        "file_format": "csv",
        "max_rows_per_file": 1000,
    },
]


def write_project(root: Path, exports: list[dict] | None = None, **settings: object) -> Path:
    """Write fabgen.yaml and exports/exports.yaml into ``root``; return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "exports").mkdir(exist_ok=True)
    text = yaml.safe_dump({**PROJECT, **settings}, sort_keys=False)
    (root / "fabgen.yaml").write_text(text, encoding="utf-8")
    rows = EXPORTS if exports is None else exports
    (root / "exports" / "exports.yaml").write_text(yaml.safe_dump(rows, sort_keys=False), encoding="utf-8")
    return root
