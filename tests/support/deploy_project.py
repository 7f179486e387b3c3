"""A small fabgen project with a ``dev`` environment, for the deploy tests (written into a temp folder)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

WORKSPACE_ID = "0d6a4a3e-6a6e-4d4e-9b8a-3c2d1e0f9a8b"
ZERO_GUID = "00000000-0000-0000-0000-000000000000"

_ROW = {
    "is_active": True,
    "source_type": "lakehouse",
    "source_workspace": "DEV_WORKSPACE",
    "source_datastore": "lh_gold",
    "target_workspace": "DEV_WORKSPACE",
    "target_lakehouse": "lh_exports",
    "file_format": "csv",
}


def export_rows(groups: dict[str, list[int]]) -> list[dict[str, Any]]:
    """One export per execution group of each group: ``{"sales": [1, 2]}`` -> sales_eg1, sales_eg2."""
    rows = []
    for group, execution_groups in groups.items():
        safe = re.sub(r"\W", "_", group)
        for eg in execution_groups:
            rows.append(
                {
                    **_ROW,
                    "export_group_name": group,
                    "export_name": f"{safe}_table_{eg}",
                    "execution_group": eg,
                    "source_table": f"{safe}_table_{eg}",
                    "target_path": f"{group}/{eg}/",
                }
            )
    return rows


CONFIG_LAKEHOUSE_ID = "c0f10000-0000-4000-8000-00000000c0f1"


def write_project(
    root: Path,
    groups: dict[str, list[int]] | None = None,
    install: str = "environment",
    spark_runtime: str = "2.0",
    name: str = "shipping",
) -> Path:
    """Write ``fabgen.yaml`` and ``exports/exports.yaml`` under ``root``; return ``root``."""
    groups = groups if groups is not None else {"sales": [1, 2], "ops": [1]}
    settings = {
        "name": name,
        "configs": ["exports"],
        "config_lakehouse": {"workspace": "DEV_WORKSPACE", "lakehouse": "lh_config"},
        "runtime": {"install": install, "spark_runtime": spark_runtime},
        "environments": {
            # The config lakehouse's id: the notebooks' default lakehouse (inline installation needs it).
            "dev": {
                "workspace_id": WORKSPACE_ID,
                "workspaces": {"DEV_WORKSPACE": {"id": WORKSPACE_ID}},
                "lakehouses": {"DEV_WORKSPACE/lh_config": {"id": CONFIG_LAKEHOUSE_ID}},
            },
            "nowhere": {},
        },
    }
    (root / "exports").mkdir(parents=True, exist_ok=True)
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    (root / "exports" / "exports.yaml").write_text(
        yaml.safe_dump({"exports": export_rows(groups)}, sort_keys=False), encoding="utf-8"
    )
    return root
