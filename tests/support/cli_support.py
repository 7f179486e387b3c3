"""A small lakehouse project for the CLI's integration tests: fabgen.yaml and one exports file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def shop_export(workspace: str, **fields: Any) -> dict[str, Any]:
    """A csv export of group ``shop`` from ``lh_src`` into ``lh_out`` (``fields`` add or override)."""
    return {
        "export_group_name": "shop",
        "is_active": True,
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_workspace": workspace,
        "source_datastore": "lh_src",
        "target_workspace": workspace,
        "target_lakehouse": "lh_out",
        "file_format": "csv",
        "file_format_options": {"header": "true"},
        **fields,
    }


def write_project(root: Path, name: str, workspace: str, exports: list[dict[str, Any]]) -> Path:
    """``root/fabgen.yaml`` (config lakehouse ``workspace/lh_config``) and ``root/exports/shop.yaml``."""
    (root / "exports").mkdir(parents=True, exist_ok=True)
    settings = {"name": name, "config_lakehouse": {"workspace": workspace, "lakehouse": "lh_config"}}
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    (root / "exports" / "shop.yaml").write_text(yaml.safe_dump({"exports": exports}))
    return root
