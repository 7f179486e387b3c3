"""Helpers shared by the read-path integration tests: export rows and what the exported CSVs hold."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any


def csv_export_row(
    group: str, name: str, source: dict[str, Any], target: tuple[str, str], **overrides: Any
) -> dict[str, Any]:
    """A CSV export row ``group/name`` reading ``source`` (source_* fields) into ``target``.

    ``target`` is (workspace, lakehouse).

    ``overrides`` replace any field; giving ``source_query`` drops ``source_table``.
    """
    row: dict[str, Any] = dict(
        export_group_name=group,
        export_name=name,
        is_active=True,
        execution_group=1,
        **source,
        target_workspace=target[0],
        target_lakehouse=target[1],
        target_path=f"{group}/{name}",
        target_filename_pattern=name + "_{run_id}.csv",
        file_format="csv",
        file_format_options={"header": "true"},
    )
    row.update(overrides)
    if "source_query" in overrides:
        row.pop("source_table", None)
    return row


def exported_ids(result: dict[str, Any]) -> list[int]:
    """Sorted ``id`` values in the exported CSV files of one export result (read with the csv module)."""
    rows = [r for p in result["file_paths"] for r in csv.DictReader(io.StringIO(Path(p).read_text()))]
    return sorted(int(r["id"]) for r in rows)
