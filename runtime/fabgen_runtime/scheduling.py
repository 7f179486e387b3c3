"""Which exports a call runs and in what order, a retry's run date, and the spec's result dict.

Pure functions over config rows and log rows (no engine, no I/O): :func:`schedule` orders execution
groups, :func:`select_for_retry` and :func:`retry_run_date` decide what a retry runs and for which
date, :func:`summarize` builds the dict ``ExportOrchestrator.process_exports`` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, ConfigIssue

if TYPE_CHECKING:
    from .config import ExportConfig
    from .export import ExportResult

RETRY_STATES = ("error", "pending", "running")


def schedule(
    configs: Iterable[ExportConfig], execution_group: int | None = None
) -> list[tuple[int, list[ExportConfig]]]:
    """``[(execution_group, configs)]`` in ascending group order, configs in name order."""
    groups: dict[int, list[ExportConfig]] = {}
    for config in configs:
        if execution_group is None or config.execution_group == execution_group:
            groups.setdefault(config.execution_group, []).append(config)
    return [
        (g, sorted(groups[g], key=lambda c: (c.export_group_name, c.export_name))) for g in sorted(groups)
    ]


def select_for_retry(
    configs: Iterable[ExportConfig],
    latest: Mapping[tuple[str, str], Mapping[str, Any]],
    completed: Iterable[str] = (),
) -> list[ExportConfig]:
    """The configs a retry runs: latest state in the execution is error, pending or running,
    and recovery did not complete that run (``completed``: run ids it finished).

    With no log rows at all (``latest`` empty), the execution never started: every config runs.
    """
    configs = list(configs)
    if not latest:
        return configs
    done = set(completed)
    return [
        c
        for c in configs
        if (row := latest.get((c.export_group_name, c.export_name))) is not None
        and row.get("export_state") in RETRY_STATES
        and row.get("export_run_id") not in done
    ]


def retry_run_date(execution_id: str, latest: Mapping[tuple[str, str], Mapping[str, Any]]) -> str:
    """The run date a retry of ``execution_id`` uses when none is given: the one its log rows carry.

    ``latest`` is :meth:`ExportLogger.latest_states` of the execution. Raises :class:`ConfigError`
    naming ``--run-date`` when no row carries one (killed before its first log commit, or never run).
    """
    dates = sorted({str(r["run_date"])[:10] for r in latest.values() if r.get("run_date")})
    if not dates:
        raise ConfigError(
            ConfigIssue(
                "run",
                "--run-date",
                f"execution {execution_id} has no log rows (it never ran, or was killed before its first "
                "log commit), so its run date is unknown: retry it with --run-date YYYY-MM-DD (the "
                "notebook's run_date parameter)",
            )
        )
    return dates[-1]


def summarize(results: list[ExportResult]) -> dict[str, Any]:
    """The spec's result dict: success, total_exports, successful, failed, results (+ warnings, skipped)."""
    failed = sum(1 for r in results if r.status == "error")
    skipped = sum(1 for r in results if r.status == "skipped")
    ok = sum(1 for r in results if r.status in ("success", "warning"))
    return {
        "success": failed == 0 and skipped == 0,
        "total_exports": len(results),
        "successful": ok,
        "failed": failed,
        "warnings": sum(1 for r in results if r.status == "warning"),
        "skipped": skipped,
        "results": [r.as_dict() for r in results],
    }
