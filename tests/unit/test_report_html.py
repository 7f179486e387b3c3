"""``fabgen report``'s page (issue #28): pure, from synthetic log rows; the browser test is
tests/integration/test_report.py."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

from fabgen.report_html import ReportInput, build_report, executions, seconds, size, still_failing
from fabgen.run_report import retry_command

T0 = datetime(2025, 6, 1, 10, 0, 0)
EVIL = "<script>alert('x')</script> & \"quoted\""


def run(execution: str, name: str, state: str, start: float, took: float | None, **fields: object) -> dict:
    started = T0 + timedelta(seconds=start)
    return {
        "export_group_name": "sales",
        "export_name": name,
        "export_state": state,
        "master_execution_id": execution,
        "export_run_id": f"{execution}-{name}-{start}",
        "execution_group": 1,
        "run_date": date(2025, 6, 1),
        "is_retry": False,
        "rows_exported": None if state == "error" else 100 + int(start),
        "files_created": 1,
        "total_bytes": None if state == "error" else 2048 * (1 + int(start)),
        "started_at": started,
        "completed_at": None if took is None else started + timedelta(seconds=took),
        "duration_ms": None if took is None else int(took * 1000),
        "error_type": None,
        "error_message": None,
        "queued_at": started,
        "updated_at": started,
        **fields,
    }


ROWS = [
    run("exec-1", "orders", "success", 0, 2.5),
    run("exec-1", "customers", "warning", 0.5, 1.0),
    run("exec-1", "totals", "success", 3, 1.5, execution_group=2),
    run("exec-2", "orders", "success", 3600, 2.0),
    run("exec-2", "customers", "error", 3600, 0.4, error_type="SourceReadError", error_message=EVIL),
    run("exec-2", "totals", "pending", 3605, None, execution_group=2, started_at=None),
    run("exec-3", "orders", "error", 7200, 0.2, error_message="boom"),
    run("exec-3", "orders", "success", 7300, 2.0, is_retry=True),
]


def page(rows: list[dict] = ROWS, **overrides: object) -> str:
    fields: dict = {
        "group": "sales",
        "days": 7,
        "since": T0 - timedelta(days=7),
        "generated_at": T0 + timedelta(hours=3),
        "log_table": "/onelake/WS/lh_config.Lakehouse/Tables/dbo/log_resource_export",
        "log_exists": True,
        "rows": rows,
        "retry": lambda execution_id: retry_command(Path("/abs/project"), "sales", execution_id),
    }
    fields.update(overrides)
    return build_report(ReportInput(**fields))


def test_one_timeline_per_execution_newest_first_with_a_bar_per_started_run() -> None:
    html = page()
    assert html.count('<svg class="timeline"') == 3
    order = [html.index(f"execution <code>exec-{n}</code>", html.index('id="executions"')) for n in (3, 2, 1)]
    assert order == sorted(order)  # the newest execution first
    timelines = re.findall(r'<svg class="timeline".*?</svg>', html)
    assert [t.count('class="bar"') for t in timelines] == [2, 2, 3]  # exec-2's pending run: no bar
    assert "execution group 1" in timelines[2] and "execution group 2" in timelines[2]
    assert "orders (retry)" in timelines[0]
    assert "#c62828" in timelines[1] and "#2e7d32" in timelines[2]  # colored by state


def test_each_export_has_its_rows_bytes_and_duration_charts() -> None:
    html = page()
    section = html[html.index('id="exports"') :]
    assert section.count('<svg class="chart"') == 9  # 3 exports x rows, bytes, seconds
    for name in ("customers", "orders", "totals"):
        assert f"<strong>{name}</strong>" in section
    orders_row = section[section.index("<strong>orders</strong>") :].split("</tr>")[0]
    assert orders_row.count("<rect") == 3 * 4  # its 4 runs in each of the 3 charts


def test_failures_show_the_escaped_message_and_the_retry_command_of_executions_still_failing() -> None:
    html = page()
    assert "<script>" not in html and "alert(" in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in html
    failures = html[html.index('id="failures"') : html.index('id="executions"')]
    assert "fabgen run -p /abs/project -g sales --retry --execution-id exec-2" in failures
    assert "--execution-id exec-3" not in failures  # its failed export succeeded in a retry
    assert "every failed export succeeded in a later retry" in failures
    assert "SourceReadError" in failures and "boom" in failures


def test_the_page_is_self_contained() -> None:
    html = page()
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"\b(src|href)\s*=", html)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert "default-src 'none'" in html  # the browser loads nothing, even what slipped in


def test_every_value_from_the_log_is_escaped() -> None:
    rows = [
        run(EVIL, EVIL, EVIL, 0, 1.0, execution_group=None, run_date=EVIL, error_message=EVIL),
        run(EVIL, "x", "error", 1, 1.0, error_message=EVIL),
    ]
    html = page(rows, group=EVIL, log_table=EVIL)
    assert "<script>" not in html and '"quoted"' not in html
    assert "execution group ?" in html


def test_empty_and_missing_logs_say_so() -> None:
    assert "no runs of sales in the last 7 day(s)" in page([])
    assert "does not exist" in page([], log_exists=False)


def test_helpers() -> None:
    assert [e for e, _rows in executions(ROWS)] == ["exec-3", "exec-2", "exec-1"]
    assert still_failing([r for r in ROWS if r["master_execution_id"] == "exec-2"]) == ["customers"]
    assert still_failing([r for r in ROWS if r["master_execution_id"] == "exec-3"]) == []
    durations = [seconds(v) for v in (None, 0.42, 12.4, 185, 3720)]
    assert durations == ["-", "0.42 s", "12 s", "3 m 05 s", "1 h 02 m"]
    assert [size(v) for v in (None, 512, 1536, 5 * 1024**3)] == ["-", "512 B", "1.5 KiB", "5.0 GiB"]
