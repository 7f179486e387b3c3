"""What ``fabgen run`` reports when it ends: the retry command and the ``--json`` document.

Also the logging filter that keeps a run's output to one line per event: the runtime's progress
logs repeat what :class:`fabgen.progress.Progress` prints, so without ``--debug`` they are dropped.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

#: version of the ``--json`` documents of run, plan, status and history (bumped on breaking changes)
JSON_VERSION = 1


def retry_command(
    project_root: Path,
    group: str,
    execution_id: str,
    export: str | None = None,
    timezone: str | None = None,
    max_concurrency: int | None = None,
) -> str:
    """The ``fabgen run --retry`` command line that retries ``execution_id`` from any folder.

    It names the project by its absolute path and keeps the options that chose what ran
    (``-x``, ``--timezone``, ``--max-concurrency``); the run date comes from the log.
    """
    args = ["fabgen", "run", "-p", str(project_root.resolve()), "-g", group]
    if export:
        args += ["-x", export]
    if timezone:
        args += ["--timezone", timezone]
    if max_concurrency:
        args += ["--max-concurrency", str(max_concurrency)]
    args += ["--retry", "--execution-id", execution_id]
    return shlex.join(args)


def workspace_retry(env: str, group: str, execution_id: str) -> str:
    """How to retry ``execution_id`` in environment ``env``'s workspace (``fabgen report --env``):
    run the group's pipeline with the notebooks' parameters ``execution_id`` and ``is_retry``."""
    from .items import pipeline_name

    return (
        f"in environment {env}: run pipeline {pipeline_name(group)} with "
        f"execution_id={execution_id} is_retry=true"
    )


def plain(value: Any) -> Any:
    """``value`` with dates as ISO text and decimals as text, so ``json.dumps`` takes it."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | Path):
        return str(value)
    return value


def dumps(document: dict[str, Any]) -> str:
    """A ``--json`` document as text: ``{"fabgen_json": 1, "command": ..., ...}``."""
    return json.dumps({"fabgen_json": JSON_VERSION, **plain(document)}, indent=2, sort_keys=False)


def run_document(group: str, outcomes: Sequence[Any], retry: str | None) -> dict[str, Any]:
    """The ``fabgen run --json`` document: one entry per run date, each the orchestrator's result."""
    runs = [{"run_date": o.run_date, "execution_id": o.execution_id, **o.result} for o in outcomes]
    success = all(o.result["success"] for o in outcomes)
    return {"command": "run", "group": group, "success": success, "runs": runs, "retry_command": retry}


class RepeatedByProgress(logging.Filter):
    """Drops the runtime's log records that the progress lines already show.

    Its INFO records (stage changes, the execution summary, recovery lines) and each export's
    ``<export> failed: <error>`` record (the ``finished error`` line and the summary carry it).
    Warnings and other errors pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("fabgen_runtime"):
            return True
        if record.levelno < logging.WARNING:
            return False
        return not (record.name == "fabgen_runtime.export" and record.msg == "%s failed: %s")
