"""The summary table of a result dict (``ExportOrchestrator.process_exports``), one place for
``fabgen run`` and the notebooks' result cell."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _name(entry: Mapping[str, Any]) -> str:
    group = entry.get("export_group_name")
    return f"{group}/{entry['export_name']}" if group else str(entry["export_name"])


def error_text(export: str, error: str) -> str:
    """``error`` without a leading ``<export>: `` (fabgen's errors name their export; the line
    that shows it already does)."""
    prefix = f"{export}: "
    return error[len(prefix) :] if error.startswith(prefix) else error


def summary_table(result: Mapping[str, Any]) -> list[str]:
    """The result dict as a table: export, state, rows, files, bytes, seconds; then one line per
    warning (schema drift, NULL incremental values, 0 rows). ``fabgen run`` and the notebooks'
    result cell print it."""
    header = ("export", "state", "rows", "files", "bytes", "seconds")
    rows = [
        (
            _name(r),
            str(r.get("status", "")),
            str(r.get("rows_exported") or 0),
            str(r.get("files_created") or 0),
            str(r.get("total_bytes") or 0),
            f"{r.get('duration') or 0:.1f}",
        )
        for r in result["results"]
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=False)]
    lines = []
    for index, row in enumerate([header, *rows]):
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    for r in result["results"]:
        if r.get("status") == "warning" and r.get("error"):
            lines.append(f"warning: {_name(r)}: {error_text(_name(r), r['error'])}")
        elif r.get("status") not in ("success", "warning") and r.get("error"):
            lines.append(f"{r.get('status')}: {_name(r)}: {error_text(_name(r), r['error'])}")
    return lines
