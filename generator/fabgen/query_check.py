"""``fabgen validate``: a lakehouse query parsed with sqlglot for both engines (read-only before a run).

The third check of a lakehouse ``source_query`` / ``period_date_query`` (after the row rules and
the lexer's static check, :mod:`fabgen_runtime.query_guard`, which must pass first): the query,
rendered with a made-up run's placeholder values, is parsed as Spark SQL and must be exactly one
read-only SELECT of tables of its ``source_datastore``, reading no files
(:func:`fabgen_runtime.engines.python.query_text.read_only_problems`). The runtime's validation that
Spark notebooks run imports no sqlglot (Fabric's Spark runtimes lack it): the generator does this.

A query sqlglot cannot parse is refused for ``engine: python`` (which runs the query through
sqlglot; :mod:`fabgen_runtime.engines.python.support` reports it) and only logged for ``engine:
spark``, whose own parser judges it at run time.
"""

from __future__ import annotations

import logging

from fabgen_runtime.config import ExportConfig
from fabgen_runtime.errors import ConfigError, ConfigIssue

log = logging.getLogger(__name__)
FIELDS = ("source_query", "period_date_query")


def query_issues(config: ExportConfig, engine: str) -> list[ConfigIssue]:
    """Why ``config``'s lakehouse queries are not read-only queries of its lakehouse; [] when they are."""
    if config.source_type != "lakehouse":
        return []
    from fabgen_runtime.engines.python.query_text import QueryTextError, parse, read_only_problems
    from fabgen_runtime.engines.python.support import sample_query

    issues = []
    for field in FIELDS:
        try:
            query = sample_query(config, field)
        except ConfigError:
            continue  # the placeholder rules report it
        if query is None:
            continue
        try:
            parse(query)
        except QueryTextError as exc:
            if engine == "python":
                continue  # support.check_config refuses it, with the engine's hint
            log.warning(
                "%s %s: not checked by sqlglot (Spark parses it at run time): %s", config.key, field, exc
            )
            continue
        issues += [
            ConfigIssue(config.key, field, problem)
            for problem in read_only_problems(query, config.source_datastore)
        ]
    return issues
