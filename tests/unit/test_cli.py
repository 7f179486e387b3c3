"""The ``fabgen`` CLI through click's CliRunner: version, help, init, validate, errors and exit codes.

Exit codes (``fabgen.cli``): 0 success, 2 bad config or usage, 1 a failed run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner, Result
from fabgen.cli import FabgenGroup, main
from fabgen_runtime.errors import ConfigError, ConfigIssue, SourceReadError

REPO = Path(__file__).resolve().parents[2]
BROKEN = REPO / "tests" / "fixtures" / "broken_project"
RED = "\x1b[31m"


def run(*args: str, color: bool = False) -> Result:
    return CliRunner().invoke(main, list(args), color=color)


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error: ")]


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == "fabgen, version 0.1.0"


def test_main_help_lists_every_command() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for name in ("init", "validate", "plan", "run", "render", "deploy"):
        assert re.search(rf"^\s+{name}\s", result.stdout, re.MULTILINE), name


@pytest.mark.parametrize("command", sorted(main.commands))
def test_help_of_each_command(command: str) -> None:
    for flag in ("--help", "-h"):
        result = run(command, flag)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"Usage: main {command}") or result.stdout.startswith(
            f"Usage: fabgen {command}"
        )


def test_init_then_validate(tmp_path: Path) -> None:
    target = tmp_path / "my project"
    result = run("init", str(target))
    assert result.exit_code == 0, result.output
    assert (target / "fabgen.yaml").is_file() and (target / "exports" / "exports.yaml").is_file()
    assert "created" in result.stdout
    settings = yaml.safe_load((target / "fabgen.yaml").read_text())
    assert settings["name"] == "my project"
    result = run("validate", "-p", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "OK: 1 export(s), 1 active, in 1 group(s): my_project"
    assert result.stderr == ""
    # Validate from a folder below the project finds its fabgen.yaml.
    assert run("validate", "--project", str(target / "exports")).exit_code == 0


def test_init_with_name(tmp_path: Path) -> None:
    assert run("init", str(tmp_path / "p"), "--name", "finance").exit_code == 0
    result = run("validate", "-p", str(tmp_path / "p"))
    assert result.exit_code == 0 and "finance" in result.stdout


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    assert run("init", str(tmp_path)).exit_code == 0
    before = (tmp_path / "fabgen.yaml").read_text()
    result = run("init", str(tmp_path))
    assert result.exit_code == 2
    lines = error_lines(result)
    assert len(lines) == 2
    assert all("already exists; not overwriting" in line for line in lines)
    assert (tmp_path / "fabgen.yaml").read_text() == before


# Every error the broken project holds: (file, export, field, words in the message).
BROKEN_ERRORS = [
    ("exports/a_sales.yaml", "sales/both_sources", "source_query", "mutually exclusive"),
    ("exports/a_sales.yaml", "sales/snappy_csv", "compression", "snappy does not apply to csv"),
    ("exports/a_sales.yaml", "sales/snappy_csv", "compression_level", "takes no level"),
    ("exports/a_sales.yaml", "sales/bad_patterns", "target_path", "'%Q'"),
    ("exports/a_sales.yaml", "sales/bad_patterns", "target_path", "'..'"),
    (
        "exports/a_sales.yaml",
        "sales/bad_patterns",
        "target_filename_pattern",
        "unknown placeholder '{rundate}'",
    ),
    ("exports/a_sales.yaml", "sales/incremental_no_column", "incremental_column", "required for incremental"),
    ("exports/a_sales.yaml", "sales/typo", "max_row_per_file", "did you mean max_rows_per_file"),
    ("exports/a_sales.yaml", "sales/typo", "is_active", "'yes'"),
    ("exports/a_sales.yaml", "sales/typo", "source_table", "not a plain identifier"),
    ("exports/a_sales.yaml", "row 7", "export_name", "is required"),
    ("exports/b_broken.yaml", None, None, "cannot parse YAML (line 4, column 18)"),
    ("exports/c_finance.json", "finance/fiscal", "execution_group", "'first'"),
    ("exports/c_finance.json", "finance/fiscal", "source_schema", "required for warehouse"),
    ("exports/c_finance.json", "finance/fiscal", "period_date_query", "required for period"),
    ("exports/c_finance.json", "finance/fiscal", "period_filter_column", "required for period"),
    ("exports/c_finance.json", "finance/fiscal", "compression", "zip does not apply to parquet"),
    ("exports/c_finance.json", "sales/orders", "max_rows_per_file", "1 or more"),
    (
        "exports/c_finance.json",
        "sales/orders",
        "export_name",
        "duplicate export (also defined in exports/a_sales",
    ),
    ("exports/c_finance.json", "row 3", None, "must be a mapping"),
]


def test_validate_lists_every_error_of_every_file() -> None:
    result = run("validate", "-p", str(BROKEN))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = error_lines(result)
    assert len(lines) == len(BROKEN_ERRORS), "\n".join(lines)
    for file, export, field, words in BROKEN_ERRORS:
        prefix = (
            f"Error: {file}: {export}" + (f" {field}:" if field else ":") if export else f"Error: {file}: "
        )
        matching = [line for line in lines if line.startswith(prefix) and words in line]
        assert len(matching) == 1, (prefix, words, lines)
    assert result.stderr.splitlines()[-1] == f"{len(BROKEN_ERRORS)} errors."


def test_errors_are_one_red_line_each() -> None:
    result = run("validate", "-p", str(BROKEN), color=True)
    assert result.exit_code == 2
    red = [line for line in result.stderr.splitlines() if line.startswith(RED)]
    assert len(red) == len(BROKEN_ERRORS)
    assert all(line.startswith(f"{RED}Error: ") and line.endswith("\x1b[0m") for line in red)


def _project(tmp_path: Path) -> Path:
    assert run("init", str(tmp_path)).exit_code == 0
    return tmp_path


def test_bad_fabgen_yaml_key(tmp_path: Path) -> None:
    project = _project(tmp_path)
    settings = project / "fabgen.yaml"
    text = settings.read_text()
    settings.write_text(text.replace("local:\n", "local:\n  onelake_rot: x\n", 1) + "colour: red\n")
    result = run("validate", "-p", str(project))
    assert result.exit_code == 2
    lines = error_lines(result)
    assert "Error: fabgen.yaml colour: unknown key" in lines
    assert "Error: fabgen.yaml local.onelake_rot: unknown key" in lines


def test_duplicate_keys_in_fabgen_yaml_and_config_files(tmp_path: Path) -> None:
    project = _project(tmp_path)
    settings = project / "fabgen.yaml"
    settings.write_text(settings.read_text() + "output: a\noutput: b\n")
    result = run("validate", "-p", str(project))
    assert result.exit_code == 2
    wanted = "Error: fabgen.yaml output: duplicate key 'output' on line"
    assert any(line.startswith(wanted) for line in error_lines(result)), result.output


def test_bad_fabgen_yaml_value_and_missing_key(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "fabgen.yaml").write_text("name: x\ndefaults: {max_concurrency: 0}\n")
    result = run("validate", "-p", str(project))
    assert result.exit_code == 2
    text = "\n".join(error_lines(result))
    assert "fabgen.yaml config_lakehouse: Field required" in text
    assert "fabgen.yaml defaults.max_concurrency:" in text


def test_missing_configs_folder(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "fabgen.yaml").write_text(
        "name: x\nconfigs: [nowhere]\nconfig_lakehouse: {workspace: w, lakehouse: lh}\n"
    )
    result = run("validate", "-p", str(project))
    assert result.exit_code == 2
    assert error_lines(result) == ["Error: fabgen.yaml configs: 'nowhere' does not exist"]


def test_missing_fabgen_yaml(tmp_path: Path) -> None:
    result = run("validate", "-p", str(tmp_path))
    assert result.exit_code == 2
    (line,) = error_lines(result)
    assert "no fabgen.yaml here or in any parent folder" in line
    assert "Traceback" not in result.output


def test_usage_errors_exit_2() -> None:
    result = run("validate", "--no-such-option")
    assert result.exit_code == 2
    assert "No such option" in result.stderr
    assert run("init").exit_code == 2  # DIRECTORY missing
    assert run("no-such-command").exit_code == 2


def test_debug_shows_a_traceback_and_keeps_the_exit_code(tmp_path: Path) -> None:
    result = run("--debug", "validate", "-p", str(tmp_path))
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "fabgen_runtime.errors.ConfigError" in result.stderr
    assert error_lines(result)[-1].endswith("no fabgen.yaml here or in any parent folder")


@pytest.mark.spark  # integration: a child Python process
def test_debug_through_the_real_entry_point(tmp_path: Path) -> None:
    code = "from fabgen.cli import main; main()"
    args = [sys.executable, "-c", code, "--debug", "validate", "-p", str(BROKEN)]
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("Error: ")] == [
        line.removeprefix(RED).removesuffix("\x1b[0m")
        for line in error_lines(run("validate", "-p", str(BROKEN)))
    ]
    plain = subprocess.run(args[:3] + args[4:], capture_output=True, text=True, check=False, timeout=60)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr


def _group_raising(error: Exception) -> click.Group:
    @click.group(cls=FabgenGroup)
    @click.option("--debug", is_flag=True)
    @click.pass_context
    def cli(ctx: click.Context, debug: bool) -> None:
        ctx.meta["fabgen.debug"] = debug

    @cli.command()
    def boom() -> None:
        raise error

    return cli


def test_a_failed_run_exits_1_with_one_red_line() -> None:
    group = _group_raising(SourceReadError("table not found\n  at line 2", export="sales/orders"))
    result = CliRunner().invoke(group, ["boom"], color=True)
    assert result.exit_code == 1
    assert result.stderr == f"{RED}Error: sales/orders: table not found at line 2\x1b[0m\n"


def test_a_config_error_exits_2_with_one_line_per_issue() -> None:
    issues = [ConfigIssue("a/b", "x", "bad"), ConfigIssue("a/c", None, "worse")]
    result = CliRunner().invoke(_group_raising(ConfigError(issues)), ["boom"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["Error: a/b x: bad", "Error: a/c: worse", "2 errors."]


def test_unexpected_exceptions_are_not_swallowed() -> None:
    result = CliRunner().invoke(_group_raising(KeyError("bug")), ["boom"])
    assert result.exit_code == 1
    assert isinstance(result.exception, KeyError)


def test_the_console_script_keeps_exit_codes_and_runs_atexit_handlers(tmp_path: Path) -> None:
    """``fabgen`` (``fabgen.cli:run``) ends with ``os._exit``: exit codes and atexit handlers must survive."""
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "sys.argv = ['fabgen', *sys.argv[1:]]\n"
        "from fabgen.cli import run\n"
        "run()\n"
    )
    missing = tmp_path / "nowhere"
    cases = {("--version",): 0, ("validate", "-p", str(missing)): 2, ("no-such-command",): 2}
    for args, code in cases.items():
        done = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert done.stdout.rstrip().endswith("atexit ran"), (args, done.stdout)
