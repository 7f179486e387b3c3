"""``fabgen report``: one self-contained HTML page from a group's log rows (pure: rows in, text out).

The rows are :func:`fabgen_runtime.status.group_runs`'s (log fields, timestamps naive UTC). The
page has the failures (message, and the retry command of each execution still failing), a timeline
per execution (``master_execution_id``: a bar per export run from ``started_at`` to
``completed_at``, in lanes by execution group, colored by state) and per export its rows, bytes and
duration over its last runs. Charts are inline SVG (:mod:`.report_svg`), the style is inline, there
is no script, and a Content-Security-Policy forbids loading anything: the file opens offline.
Every value from the log is escaped (:func:`html.escape`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from .report_svg import Bar, Point, bar_chart, timeline

Row = Mapping[str, Any]

#: the color of each export_state (unknown states: grey)
STATE_COLORS = {
    "success": "#2e7d32",
    "warning": "#e0a800",
    "error": "#c62828",
    "running": "#1565c0",
    "pending": "#9e9e9e",
}
OTHER_COLOR = "#757575"
#: the runs each export's charts show, the newest
CHART_RUNS = 30

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#212121;max-width:1040px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 4px}.meta{color:#616161;margin:2px 0}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;vertical-align:top;
border-bottom:1px solid #eee}th{font-weight:600;color:#424242}td.nowrap{white-space:nowrap}
pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;border:1px solid #eee;
padding:6px;margin:4px 0}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.state{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:12px}
.legend span{margin-right:12px}.ok{color:#2e7d32}.bad{color:#c62828}
svg text{font:11px system-ui,sans-serif;fill:#424242}svg text.lane{font-weight:600;fill:#212121}
svg .grid{stroke:#e0e0e0}svg .axis{stroke:#bdbdbd}svg text.tick{fill:#757575;font-size:10px}
"""


@dataclass(frozen=True)
class ReportInput:
    """What one report shows: ``rows`` of ``group`` since ``since`` (naive UTC, the last ``days``),
    and ``retry``: the ``fabgen run --retry`` command of an execution id."""

    group: str
    days: int
    since: datetime
    generated_at: datetime
    log_table: str
    log_exists: bool
    rows: Sequence[Row]
    retry: Callable[[str], str]


# --------------------------------------------------------------------------- values as text


def when(value: Any) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM:SS`` (UTC, as the log keeps it), other values as text."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def html_when(value: Any) -> str:
    """:func:`when`, escaped for HTML."""
    return escape(when(value))


def seconds(value: float | None) -> str:
    """A duration in seconds, short: ``0.04 s``, ``2.4 s``, ``12 s``, ``3 m 05 s``, ``1 h 02 m``."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value:.2f} s"
    if value < 10:
        return f"{value:.1f} s"
    if value < 60:
        return f"{value:.0f} s"
    whole = round(value)
    if whole < 3600:
        return f"{whole // 60} m {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} m"


def size(value: float | None) -> str:
    """Bytes in binary units: ``512 B``, ``1.5 KiB``, ``3.2 MiB``..."""
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"  # pragma: no cover (the loop returns)


def count(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def color(state: Any) -> str:
    return STATE_COLORS.get(str(state), OTHER_COLOR)


def badge(state: Any) -> str:
    text = escape(str(state or "unknown"))
    return f'<span class="state" style="background:{color(state)}">{text}</span>'


def _duration(row: Row) -> float | None:
    if row.get("duration_ms") is not None:
        return float(row["duration_ms"]) / 1000
    start, end = row.get("started_at"), row.get("completed_at")
    if isinstance(start, datetime) and isinstance(end, datetime):
        return (end - start).total_seconds()
    return None


def _name(row: Row) -> str:
    return str(row.get("export_name") or "?") + (" (retry)" if row.get("is_retry") else "")


# --------------------------------------------------------------------------- grouping


def _first_time(row: Row) -> datetime:
    times = [row.get(f) for f in ("started_at", "queued_at", "updated_at", "completed_at")]
    return min((t for t in times if isinstance(t, datetime)), default=datetime.max)


def _started(row: Row) -> datetime | None:
    first = _first_time(row)
    return None if first == datetime.max else first


def _last_time(row: Row) -> datetime:
    times = [row.get(f) for f in ("completed_at", "updated_at", "started_at", "queued_at")]
    return max((t for t in times if isinstance(t, datetime)), default=datetime.min)


def executions(rows: Sequence[Row]) -> list[tuple[str, list[Row]]]:
    """The rows by ``master_execution_id``, the newest execution first, each execution's rows in
    the order they started."""
    by_id: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_id[str(row.get("master_execution_id") or "?")].append(row)
    ordered = sorted(by_id.items(), key=lambda item: min(map(_first_time, item[1])), reverse=True)
    return [(key, sorted(group, key=lambda r: (_first_time(r), _name(r)))) for key, group in ordered]


def still_failing(rows: Sequence[Row]) -> list[str]:
    """The exports of one execution whose latest row there is an error (a retry would run them)."""
    latest: dict[str, Row] = {}
    for row in sorted(rows, key=_last_time):
        latest[str(row.get("export_name"))] = row
    return sorted(name for name, row in latest.items() if row.get("export_state") == "error")


# --------------------------------------------------------------------------- sections


def _header(data: ReportInput, runs: list[tuple[str, list[Row]]]) -> str:
    failed = sum(r.get("export_state") == "error" for r in data.rows)
    legend = "".join(
        f'<span><svg width="10" height="10"><rect width="10" height="10" fill="{c}"/></svg> {s}</span>'
        for s, c in STATE_COLORS.items()
    )
    summary = (
        f"{len(runs)} execution(s), {len(data.rows)} export run(s), "
        f'<span class="{"bad" if failed else "ok"}">{failed} failed</span>'
    )
    return (
        f"<header><h1>fabgen report: {escape(data.group)}</h1>"
        f'<p class="meta">the last {data.days} day(s): runs since {html_when(data.since)} UTC; '
        f"generated {html_when(data.generated_at)} UTC</p>"
        f'<p class="meta">log table: <code>{escape(data.log_table)}</code></p>'
        f'<p class="summary">{summary}</p><p class="legend">{legend}</p></header>'
    )


def _failures(runs: list[tuple[str, list[Row]]], retry: Callable[[str], str]) -> str:
    parts = ['<section id="failures"><h2>Failures</h2>']
    any_failure = False
    for execution_id, rows in runs:
        errors = [r for r in rows if r.get("export_state") == "error"]
        if not errors:
            continue
        any_failure = True
        failing = still_failing(rows)
        parts.append(f'<div class="failure"><h3>execution <code>{escape(execution_id)}</code></h3>')
        if failing:
            parts.append(
                f"<p>still failing: {escape(', '.join(failing))}; retry with</p>"
                f'<pre class="retry"><code>{escape(retry(execution_id))}</code></pre>'
            )
        else:
            parts.append('<p class="ok">every failed export succeeded in a later retry</p>')
        parts.append(
            "<table><tr><th>export</th><th>execution group</th><th>run date</th>"
            "<th>failed at</th><th>error</th></tr>"
        )
        for row in errors:
            message = escape(str(row.get("error_message") or "(no message)"))
            kind = escape(str(row.get("error_type") or "error"))
            parts.append(
                f"<tr><td>{escape(_name(row))}</td><td>{html_when(row.get('execution_group'))}</td>"
                f'<td class="nowrap">{html_when(row.get("run_date"))}</td>'
                f'<td class="nowrap">{html_when(row.get("completed_at") or row.get("updated_at"))}</td>'
                f'<td><strong>{kind}</strong><pre class="error">{message}</pre></td></tr>'
            )
        parts.append("</table></div>")
    if not any_failure:
        parts.append('<p class="ok">no failed runs in this period</p>')
    parts.append("</section>")
    return "".join(parts)


def _timeline(execution_id: str, rows: list[Row]) -> str:
    starts = [r["started_at"] for r in rows if isinstance(r.get("started_at"), datetime)]
    origin = min(starts) if starts else min(map(_first_time, rows))
    elapsed = max((max(map(_last_time, rows)) - origin).total_seconds(), 0.0)
    span = max(elapsed, 0.01)

    def offset(value: Any) -> float | None:
        return (value - origin).total_seconds() if isinstance(value, datetime) else None

    lanes: dict[Any, list[Bar]] = defaultdict(list)
    for row in rows:
        state = row.get("export_state")
        tip = (
            f"{_name(row)}: {state}, started {when(row.get('started_at'))}, "
            f"completed {when(row.get('completed_at'))}, {seconds(_duration(row))}, "
            f"{count(row.get('rows_exported'))} row(s)"
        )
        start = offset(row.get("started_at"))
        finish = offset(row.get("completed_at")) if start is not None else None
        lanes[row.get("execution_group")].append(Bar(_name(row), start, finish, color(state), tip))
    ordered = sorted(lanes.items(), key=lambda item: (item[0] is None, item[0] or 0))
    titled = [(f"execution group {'?' if eg is None else eg}", bars) for eg, bars in ordered]
    states: dict[str, int] = defaultdict(int)
    for row in rows:
        states[str(row.get("export_state"))] += 1
    tally = ", ".join(f"{n} {escape(s)}" for s, n in sorted(states.items()))
    run_dates = sorted({html_when(r.get("run_date")) for r in rows})
    return (
        f'<article class="execution"><h3>execution <code>{escape(execution_id)}</code></h3>'
        f'<p class="meta">run date {", ".join(run_dates)}; started {html_when(origin)} UTC, '
        f"{seconds(elapsed)} in all; {tally}</p>"
        f"{timeline(titled, span, lambda s: '+' + seconds(s) if s else when(origin)[11:])}</article>"
    )


def _export_row(name: str, rows: list[Row]) -> str:
    rows = sorted(rows, key=_first_time)[-CHART_RUNS:]
    latest = rows[-1]

    def points(value: Callable[[Row], float | None], text: Callable[[float | None], str]) -> list[Point]:
        return [
            Point(
                value(r),
                color(r.get("export_state")),
                f"{when(r.get('run_date'))} ({when(r.get('started_at'))}): {r.get('export_state')}, "
                f"{text(value(r))}",
            )
            for r in rows
        ]

    def metric(key: str) -> Callable[[Row], float | None]:
        return lambda r: None if r.get(key) is None else float(r[key])

    charts = [
        (metric("rows_exported"), count, "rows"),
        (metric("total_bytes"), size, "bytes"),
        (_duration, seconds, "seconds"),
    ]
    cells = []
    for value, text, label in charts:
        got = points(value, text)
        top = max((p.value for p in got if p.value is not None), default=None)
        cells.append(f"<td>{bar_chart(got, f'max {text(top)}', label)}</td>")
    return (
        f"<tr><td><strong>{escape(name)}</strong><br>{badge(latest.get('export_state'))} "
        f'<span class="meta">{len(rows)} run(s); last {html_when(_started(latest))}</span></td>'
        f"{''.join(cells)}</tr>"
    )


def _exports(rows: Sequence[Row]) -> str:
    by_export: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_export[str(row.get("export_name") or "?")].append(row)
    body = "".join(_export_row(name, by_export[name]) for name in sorted(by_export))
    return (
        f'<section id="exports"><h2>Exports</h2><p class="meta">each export\'s last {CHART_RUNS} runs '
        "at most, oldest first; a stub marks a run without a value (failed)</p>"
        "<table><tr><th>export</th><th>rows</th><th>bytes</th><th>duration</th></tr>"
        f"{body}</table></section>"
    )


def build_report(data: ReportInput) -> str:
    """The whole HTML page of ``data``."""
    runs = executions(data.rows)
    if not data.log_exists:
        body = f"<p>no runs logged yet: <code>{escape(data.log_table)}</code> does not exist</p>"
    elif not data.rows:
        body = f"<p>no runs of {escape(data.group)} in the last {data.days} day(s)</p>"
    else:
        timelines = "".join(_timeline(execution_id, rows) for execution_id, rows in runs)
        body = (
            _failures(runs, data.retry)
            + f'<section id="executions"><h2>Executions</h2>{timelines}</section>'
            + _exports(data.rows)
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>fabgen report: {escape(data.group)}</title><style>{STYLE}</style></head>"
        f"<body>{_header(data, runs)}{body}</body></html>\n"
    )
