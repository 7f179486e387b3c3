"""The read-only day-two verbs: ``status``, ``history``, ``verify`` and ``report``.

Each reads the project's local OneLake, or with ``--env E`` environment E's workspace over OneLake
(delta-rs, no JVM), and writes nothing but its output (``report``: one HTML file).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .options import env_read_option, group_option, json_option, load, project_option


@click.command()
@project_option
@group_option(required=True)
@env_read_option
@json_option
def status(project_dir: Path, group: str, env: str | None, as_json: bool) -> None:
    """Show the latest state of every export of a group: state, rows, files, watermark, error.

    Reads the log and watermark tables of the config lakehouse (locally: the project's OneLake;
    with --env: the workspace's, over OneLake with delta-rs, no JVM).
    """
    from .state_view import read_status, status_lines

    report = read_status(load(project_dir), group, env)
    if as_json:
        from .run_report import dumps

        click.echo(dumps(report.document("status")))
        return
    for line in status_lines(report):
        click.echo(line)


@click.command()
@project_option
@click.option("--export", "-x", "export", required=True, help="The export (export_name).")
@group_option()
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many runs to show, newest first.",
)
@env_read_option
@json_option
def history(
    project_dir: Path, export: str, group: str | None, limit: int, env: str | None, as_json: bool
) -> None:
    """Show the recent runs of one export (its group: -g, or the project's group defining it).

    Reads the log table locally, or with --env the workspace's over OneLake (delta-rs, no JVM).
    """
    from .state_view import history_lines, read_history

    report = read_history(load(project_dir), export, group, limit, env)
    if as_json:
        from .run_report import dumps

        click.echo(dumps(report.document("history")))
        return
    for line in history_lines(report):
        click.echo(line)


@click.command()
@project_option
@group_option(required=True)
@click.option("--export", "-x", "export", help="Only this export (export_name).")
@env_read_option
@json_option
def verify(project_dir: Path, group: str, export: str | None, env: str | None, as_json: bool) -> None:
    """Check that every file the group's exports published is still in place and intact.

    The manifests and owner records under Files/_fabgen_manifests say which run's bytes should be at
    each name; each such file must exist with the manifest's size and SHA-256 (a trigger: exist).
    Lists missing, changed and unknown files (in the exports' target folders, with no owner record)
    and exits 1 when there is any. Reads the local OneLake, or with --env the workspace's lakehouses
    over OneLake (delta-rs); writes nothing.
    """
    from .verify import report_lines
    from .verify_env import verify_project

    report = verify_project(load(project_dir), group, export, env)
    if as_json:
        from .run_report import dumps

        click.echo(dumps(report.document()))
    else:
        for line in report_lines(report):
            problem = line.startswith(("  ", "UNKNOWN")) or line.endswith("problem(s)")
            click.secho(line, fg="red" if problem else ("green" if line.startswith("OK") else None))
    sys.exit(0 if report.ok else 1)


@click.command()
@project_option
@group_option(required=True)
@click.option(
    "--days", type=click.IntRange(min=1), default=7, show_default=True, help="The runs of the last N days."
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file (default: fabgen-report-<group>.html in the current folder).",
)
@env_read_option
def report(project_dir: Path, group: str, days: int, out_file: Path | None, env: str | None) -> None:
    """Write one self-contained HTML page of a group's recent runs; print its path.

    Per execution a timeline of the exports (by execution group, colored by state), per export its
    rows, bytes and duration over the last runs, and the failures with their messages and the retry
    command. Reads the log table as status does (a python group: delta-rs, no JVM; with --env the
    workspace's, over OneLake); writes only the file. Opens offline: no script, no external file
    (charts are inline SVG).
    """
    import re
    from datetime import UTC, datetime, timedelta

    from fabgen_runtime.errors import FabgenError

    from .report_html import ReportInput, build_report
    from .run_report import retry_command, workspace_retry
    from .state_view import read_recent_runs

    project = load(project_dir)
    now = datetime.now(UTC).replace(tzinfo=None)  # the log's timestamps: naive UTC
    since = now - timedelta(days=days)
    state = read_recent_runs(project, group, since, env)
    page = build_report(
        ReportInput(
            group=group,
            days=days,
            since=since,
            generated_at=now,
            log_table=state.log_table,
            log_exists=state.log_exists,
            rows=state.rows,
            retry=(
                (lambda execution_id: workspace_retry(env, group, execution_id))
                if env
                else (lambda execution_id: retry_command(project.root, group, execution_id))
            ),
        )
    )
    default_name = "fabgen-report-" + re.sub(r"[^A-Za-z0-9._-]", "_", group) + ".html"
    path = (out_file if out_file is not None else Path.cwd() / default_name).resolve()
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise FabgenError(f"cannot write the report to {path}: {exc.strerror or exc}") from exc
    executions = len({row.get("master_execution_id") for row in state.rows})
    click.echo(f"report of {group}: {len(state.rows)} export run(s) in {executions} execution(s)", err=True)
    click.echo(str(path))
