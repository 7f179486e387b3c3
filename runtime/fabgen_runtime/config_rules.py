"""Rules on an export row beyond its structure, checked by ``fabgen validate`` without any data.

:func:`check` is called by :func:`fabgen_runtime.config.parse_configs` for every row, after the
rules of ``config.py``: query mode is read-only (:mod:`fabgen_runtime.query_guard`), writer
options are ones the writer accepts (:mod:`fabgen_runtime.writer_options`), output names fit
OneLake's limits and stay distinct (trigger vs data, one name per part).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import query_guard

if TYPE_CHECKING:
    from .config import ExportConfig

Issue = Callable[[str, str], None]


def check(cfg: ExportConfig, issue: Issue) -> None:
    """Report every problem of ``cfg`` found by these rules through ``issue(field, message)``."""
    _check_queries(cfg, issue)


def _check_queries(cfg: ExportConfig, issue: Issue) -> None:
    dialect = "spark" if cfg.source_type == "lakehouse" else "warehouse"
    for name in ("source_query", "period_date_query"):
        query = getattr(cfg, name)
        if query is None:
            continue
        for problem in query_guard.static_problems(query, dialect):
            issue(name, problem)
