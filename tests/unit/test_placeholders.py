"""The one placeholder resolver, and the run context it resolves from (timezone, run/process date)."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from config_rows import base
from fabgen_runtime import placeholders
from fabgen_runtime.configs import parse_config
from fabgen_runtime.errors import ConfigError
from fabgen_runtime.placeholders import ALL_PLACEHOLDERS, check_pattern, check_strftime, names, parse, render
from fabgen_runtime.plan import RunContext, build_plan, parse_run_date, placeholder_values

RUN = datetime(2025, 12, 12)
PROCESS = datetime(2025, 12, 12, 14, 30, 22)
VALUES = {
    "run_date": RUN,
    "process_date": PROCESS,
    "timestamp": PROCESS,
    "period_start_date": datetime(2025, 12, 1),
    "period_end_date": date(2025, 12, 31),  # a DATE column from period_date_query
    "export_name": "daily_orders",
    "run_id": "a1b2c3d4",
    "watermark": "2025-12-11T23:59:59",
    "part": 3,
    "ext": "csv",
}


def test_the_placeholder_set_is_the_spec_s() -> None:
    assert {
        "run_date",
        "process_date",
        "period_start_date",
        "period_end_date",
        "export_name",
        "run_id",
        "watermark",
        "part",
        "timestamp",
        "ext",
    } == ALL_PLACEHOLDERS


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("{run_date}", "2025-12-12 00:00:00"),
        ("{run_date:%Y%m%d}", "20251212"),
        ("{run_date:%Y-%m-%d}", "2025-12-12"),
        ("{process_date}", "2025-12-12 14:30:22"),
        ("{process_date:%H%M%S}", "143022"),
        ("{process_date:%Y%m%d%H%M%S}", "20251212143022"),
        ("{period_start_date}", "2025-12-01 00:00:00"),
        ("{period_start_date:%Y%m%d}", "20251201"),
        ("{period_end_date}", "2025-12-31 00:00:00"),
        ("{period_end_date:%Y%m%d}", "20251231"),
        ("{export_name}", "daily_orders"),
        ("{run_id}", "a1b2c3d4"),
        ("{watermark}", "2025-12-11T23:59:59"),
        ("{part}", "3"),
        ("{part:04d}", "0003"),
        ("{timestamp}", "20251212_143022"),
        ("{timestamp:%Y}", "2025"),
        ("{ext}", "csv"),
        ("{export_name}_{timestamp}.{ext}", "daily_orders_20251212_143022.csv"),
        ("orders_{period_start_date:%Y%m%d}_{period_end_date:%Y%m%d}.csv", "orders_20251201_20251231.csv"),
        ("exports/{run_date:%Y}/{run_date:%m}/", "exports/2025/12/"),
        ("{run_date:%d %B %Y, %A}", "12 December 2025, Friday"),
        ("{run_date:%j %U %W %G-%V-%u %y %b %a %w %I%p}", "346 49 49 2025-50-5 25 Dec Fri 5 12AM"),
        ("{process_date:%f}", "000000"),
        ("100%% {run_date:%Y%%}", "100%% 2025%"),  # '%%' is literal text outside a spec
        ("no placeholders", "no placeholders"),
        ("", ""),
    ],
)
def test_render(pattern: str, expected: str) -> None:
    assert check_pattern(pattern) == []
    assert render(pattern, VALUES) == expected


def test_iso_rendering_drops_timezone_and_microseconds() -> None:
    aware = datetime(2025, 12, 12, 1, 2, 3, 456789, tzinfo=UTC)
    assert render("{run_date}", {"run_date": aware}) == "2025-12-12 01:02:03"


def test_literal_braces() -> None:
    assert render("{{run_date}} is {run_date:%Y}", VALUES) == "{run_date} is 2025"
    assert render("SELECT '{{\"a\": 1}}'", {}) == "SELECT '{\"a\": 1}'"
    assert check_pattern("{{literal}}") == []
    assert names("{{run_date}}") == set()


def test_unpadded_flag_is_rendered_by_fabgen() -> None:
    day = datetime(2025, 3, 5, 7, 8, 9)
    assert (
        render("{run_date:%-d/%-m/%Y %-H:%-M:%-S %-I %-j %-y}", {"run_date": day}) == "5/3/2025 7:8:9 7 64 25"
    )
    assert placeholders.strftime(datetime(2000, 1, 1), "%-y|%-j|%%-d") == "0|1|%-d"
    check_strftime("%-d%-m")


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("%Q", "'%Q'"),
        ("%Y%", "lone '%'"),
        ("%", "lone '%'"),
        ("%-Y", "'%-Y'"),
        ("%-B", "'%-B'"),
        ("%#d", "'%#'"),  # Windows' no-padding flag is not portable
        ("%e", "'%e'"),  # glibc-only
        ("%s", "'%s'"),
        ("%z", "naive"),
        ("%Z", "naive"),
        ("YYYYMMDD", "no strftime directive"),
        ("%%", "no strftime directive"),
    ],
)
def test_bad_strftime_specs(spec: str, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_strftime(spec)
    assert words in str(caught.value)
    assert check_pattern(f"{{run_date:{spec}}}"), spec


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("{nope}", "unknown placeholder '{nope}'"),
        ("{run_date", "literal brace"),
        ("run_date}", "literal brace"),
        ("{}", "not a placeholder name"),
        ("{0}", "not a placeholder name"),
        ("{run_date.year}", "not a placeholder name"),
        ("{run_date!r}", "conversions are not supported"),
        ("{part:{width}}", "nested placeholders"),
        ("{part:%Y}", "bad integer format"),
        ("{export_name:d}", "bad format"),
    ],
)
def test_check_pattern_problems(pattern: str, words: str) -> None:
    problems = check_pattern(pattern)
    assert len(problems) == 1 and words in problems[0], problems


def test_check_pattern_reports_every_problem() -> None:
    problems = check_pattern("{a}_{run_date:%Q}_{b}_{part:04d}", allowed={"run_date"})
    assert len(problems) == 4
    assert "unknown placeholder '{a}'" in problems[0]
    assert "'%Q'" in problems[1]
    assert "'{part}' is not available here" in problems[3]


def test_parse_and_names() -> None:
    assert parse("a{run_date:%Y}b{part}") == [
        placeholders.Placeholder("run_date", "%Y"),
        placeholders.Placeholder("part", ""),
    ]
    assert names("{run_date}{run_date:%Y}{ext}") == {"run_date", "ext"}
    assert names("{broken") == set()


@pytest.mark.parametrize("missing", ["watermark", "period_start_date"])
def test_missing_value_is_an_error_naming_the_placeholder(missing: str) -> None:
    values = {**VALUES, missing: None}
    with pytest.raises(ValueError, match=f"'{{{missing}}}' has no value"):
        render(f"x {{{missing}}}", values)
    with pytest.raises(ValueError, match=r"'\{run_date\}' has no value"):
        render("{run_date}", {})


def test_date_placeholder_needs_a_date() -> None:
    with pytest.raises(ValueError, match="needs a date"):
        render("{run_date:%Y}", {"run_date": "2025-12-12"})


def test_escape_hook_applies_to_values_only() -> None:
    def sql_literal(text: str) -> str:
        return text.replace("'", "''")

    query = "SELECT * FROM t WHERE c > '{watermark}' AND d = '{run_date:%Y-%m-%d}' -- it's"
    rendered = render(query, {**VALUES, "watermark": "x' OR '1'='1"}, escape=sql_literal)
    assert rendered == "SELECT * FROM t WHERE c > 'x'' OR ''1''=''1' AND d = '2025-12-12' -- it's"


# --------------------------------------------------------------------------- run context and timezone

NOON_UTC = datetime(2025, 12, 12, 14, 30, 22, 987654, tzinfo=UTC)


def test_process_date_is_converted_into_the_timezone() -> None:
    sydney = RunContext.create("2025-12-12", "Australia/Sydney", now=NOON_UTC)
    assert sydney.process_date == datetime(2025, 12, 13, 1, 30, 22)  # AEDT, UTC+11, microseconds dropped
    assert sydney.run_date == RUN
    assert sydney.timezone == "Australia/Sydney"
    utc = RunContext.create("2025-12-12", "UTC", now=NOON_UTC)
    assert utc.process_date == datetime(2025, 12, 12, 14, 30, 22)
    new_york = RunContext.create(None, "America/New_York", now=NOON_UTC)
    assert new_york.process_date == datetime(2025, 12, 12, 9, 30, 22)


def test_run_date_defaults_to_today_in_the_timezone() -> None:
    # 14:30 UTC on the 12th is already 01:30 on the 13th in Sydney.
    assert RunContext.create(None, "Australia/Sydney", now=NOON_UTC).run_date == datetime(2025, 12, 13)
    assert RunContext.create(None, "UTC", now=NOON_UTC).run_date == datetime(2025, 12, 12)
    # Just before midnight in Sydney (12:59 UTC) it is still the 12th there.
    before = datetime(2025, 12, 12, 12, 59, 59, tzinfo=UTC)
    ctx = RunContext.create("", "Australia/Sydney", now=before)
    assert (ctx.run_date, ctx.process_date) == (datetime(2025, 12, 12), datetime(2025, 12, 12, 23, 59, 59))


def test_run_date_default_without_now_is_today_in_the_timezone() -> None:
    from zoneinfo import ZoneInfo

    for tz in ("Australia/Sydney", "Pacific/Kiritimati", "Etc/GMT+12"):
        before = datetime.now(ZoneInfo(tz)).date()
        ctx = RunContext.create(timezone=tz)
        after = datetime.now(ZoneInfo(tz)).date()
        assert ctx.run_date.date() in (before, after)
        assert ctx.process_date.date() == ctx.run_date.date() or before != after
        assert ctx.process_date.tzinfo is None and ctx.process_date.microsecond == 0


def test_naive_now_is_utc_whatever_the_machine_timezone() -> None:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/Los_Angeles"
    time.tzset()
    try:
        ctx = RunContext.create("2025-12-12", "Australia/Sydney", now=datetime(2025, 12, 12, 14, 30, 22))
    finally:
        if saved is None:
            os.environ.pop("TZ")
        else:
            os.environ["TZ"] = saved
        time.tzset()
    assert ctx.process_date == datetime(2025, 12, 13, 1, 30, 22)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-12-12", RUN),
        (" 2025-12-12 ", RUN),
        ("20251212", RUN),
        ("2025-12-12T18:45:00", RUN),  # a time of day is dropped: run_date is a date
        ("2025-12-12T14:00:00Z", datetime(2025, 12, 13)),  # aware: the date in Sydney
        (date(2025, 12, 12), RUN),
        (datetime(2025, 12, 12, 9, 0), RUN),
        (datetime(2025, 12, 12, 20, 0, tzinfo=UTC), datetime(2025, 12, 13)),
    ],
)
def test_parse_run_date(value: object, expected: datetime) -> None:
    assert parse_run_date(value, "Australia/Sydney") == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["12/12/2025", "yesterday", "2025-13-01"])
def test_bad_run_date(value: str) -> None:
    with pytest.raises(ConfigError, match="run_date") as caught:
        RunContext.create(value, "UTC")
    assert value in str(caught.value)


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "../etc/passwd"])
def test_unknown_timezone(tz: str) -> None:
    with pytest.raises(ConfigError, match="unknown timezone"):
        RunContext.create("2025-12-12", tz)


def test_execution_id_is_generated_or_kept() -> None:
    assert RunContext.create("2025-12-12", execution_id="exec-1").execution_id == "exec-1"
    first, second = RunContext.create("2025-12-12"), RunContext.create("2025-12-12")
    assert first.execution_id != second.execution_id and len(first.execution_id) == 36


def test_one_process_date_per_run_so_data_and_trigger_names_agree() -> None:
    cfg = parse_config(
        base(
            export_name="orders",
            target_path="out/{process_date:%Y%m%d}",
            target_filename_pattern="orders_{process_date:%Y%m%d%H%M%S}.csv",
            trigger_file_pattern="orders_{process_date:%Y%m%d%H%M%S}.done",
        )
    )
    # A run that started in the past: if anything re-read the clock, names would show today.
    ctx = RunContext.create("2025-12-12", "Australia/Sydney", now=NOON_UTC)
    first = build_plan(cfg, ctx)
    again = build_plan(cfg, ctx)
    stamp = "20251213013022"
    assert first.output.filename == again.output.filename == f"orders_{stamp}.csv"
    assert first.output.trigger_filename == again.output.trigger_filename == f"orders_{stamp}.done"
    assert first.output.directory == f"out/{stamp[:8]}"
    values = placeholder_values(cfg, ctx, first.export_run_id, None, None, None)
    assert values["timestamp"] == values["process_date"] == ctx.process_date
    assert values["watermark"] == ""  # no watermark yet: renders empty, never "None"
    assert first.values()["run_id"] == first.export_run_id[:8] == first.run_id


def test_process_date_has_no_sub_second_noise() -> None:
    ctx = RunContext.create("2025-12-12", "UTC", now=NOON_UTC + timedelta(microseconds=1))
    assert render("{process_date}", {"process_date": ctx.process_date}) == "2025-12-12 14:30:22"
