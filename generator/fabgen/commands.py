"""The verbs beyond init/validate, each a thin wrapper over the module that owns its concern.

``fabgen.cli`` adds the commands listed in ``COMMANDS`` to its ``main`` group.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from fabgen_runtime.errors import ConfigError

from .local_commands import local_group
from .options import (
    env_read_option,
    group_option,
    json_option,
    load,
    out_option,
    project_option,
    run_date_option,
    timezone_option,
)


# ---- plan / run (runtime read path, state and orchestration) -------------------------------
@click.command()
@project_option
@group_option(required=True)
@click.option("--export", "-x", "export", help="Only this export (export_name).")
@run_date_option
@click.option("--from", "date_from", help="Backfill: first run date, YYYY-MM-DD (with --to).")
@click.option("--to", "date_to", help="Backfill: last run date, YYYY-MM-DD (with --from).")
@click.option("--execution-id", help="Execution id (default: a new UUID); with --retry, the one to retry.")
@click.option("--retry", is_flag=True, help="Re-run only the exports that failed or never finished.")
@timezone_option
@click.option("--max-concurrency", type=click.IntRange(min=1), help="Exports run at once per group.")
@json_option
@click.pass_context
def run(
    ctx: click.Context,
    project_dir: Path,
    group: str,
    export: str | None,
    run_date: str | None,
    date_from: str | None,
    date_to: str | None,
    execution_id: str | None,
    retry: bool,
    timezone: str | None,
    max_concurrency: int | None,
    as_json: bool,
) -> None:
    """Run a group's exports locally (exit 0 when all succeed, warnings included; 1 when any fails).

    Prints a line per export event (and, on a terminal, a live line: exports done, rows, elapsed),
    then a summary table. With --json, the progress goes to stderr and stdout holds one JSON document.
    """
    from .local_run import run_project
    from .progress import Progress
    from .run_report import RepeatedByProgress, retry_command

    if retry and not execution_id:
        raise ConfigError("--retry needs the --execution-id of the run to retry")
    project = load(project_dir)
    debug = bool(ctx.meta.get("fabgen.debug"))
    progress = Progress.for_stream(sys.stderr if as_json else sys.stdout)
    with log_filter(None if debug else RepeatedByProgress()), progress:
        outcomes = run_project(
            project,
            group,
            export,
            run_date,
            date_from,
            date_to,
            execution_id,
            retry,
            timezone,
            max_concurrency,
            progress=progress,
        )
    failed = next((o for o in outcomes if not o.result["success"]), None)
    hint = None
    if failed is not None:
        hint = retry_command(project.root, group, failed.execution_id, export, timezone, max_concurrency)
    if as_json:
        from .run_report import dumps, run_document

        click.echo(dumps(run_document(group, outcomes, hint)))
    else:
        print_run_summary(outcomes, hint)
    sys.exit(1 if failed else 0)


def print_run_summary(outcomes: list[Any], hint: str | None) -> None:
    """Each run date's summary table and counts, then the retry command when one failed."""
    from fabgen_runtime.summary import summary_table

    for outcome in outcomes:
        result = outcome.result
        click.echo("")
        for line in summary_table(result):
            click.echo(line)
        message = (
            f"{result['successful']} of {result['total_exports']} export(s) succeeded "
            f"({result['warnings']} with warnings), {result['failed']} failed, "
            f"{result['skipped']} skipped; execution id {outcome.execution_id}"
        )
        click.secho(message, fg="green" if result["success"] else "red")
    if hint:
        click.secho(f"retry: {hint}", fg="red")


@contextmanager
def log_filter(added: logging.Filter | None) -> Iterator[None]:
    """Within the block, ``added`` (if any) filters every handler of the root logger."""
    handlers = list(logging.getLogger().handlers) if added is not None else []
    for handler in handlers:
        handler.addFilter(added)  # type: ignore[arg-type]
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(added)  # type: ignore[arg-type]


@click.command()
@project_option
@group_option(required=True)
@click.option("--export", "-x", "export", help="Only this export (export_name).")
@run_date_option
@timezone_option
@click.option("--no-period-query", is_flag=True, help="Do not run period_date_query (one-row control query).")
@json_option
def plan(
    project_dir: Path,
    group: str,
    export: str | None,
    run_date: str | None,
    timezone: str | None,
    no_period_query: bool,
    as_json: bool,
) -> None:
    """Print each export's resolved query, filters, watermark and output paths, without reading data."""
    from .local_run import describe_plans, plan_document

    document = plan_document(load(project_dir), group, export, run_date, timezone, not no_period_query)
    if as_json:
        from .run_report import dumps

        click.echo(dumps(document))
        return
    for line in describe_plans(document):
        click.echo(line)


@click.command()
@project_option
@group_option(required=True)
@click.option("--export", "-x", "export", help="Only this export (export_name).")
def recover(project_dir: Path, group: str, export: str | None) -> None:
    """Finish or roll back interrupted publishes of a group's exports and complete their bookkeeping.

    Runs no export. Exit 0 when everything was recovered (or nothing needed it), 1 otherwise.
    """
    from .local_run import recover_project

    recovered = recover_project(load(project_dir), group, export)
    for line in recovered.lines:
        click.echo(line)
    for problem in recovered.problems:
        click.secho(problem, fg="red")
    if not recovered.lines and not recovered.problems:
        click.echo(f"nothing to recover in {group}")
    sys.exit(1 if recovered.problems else 0)


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


@click.group("config")
def config_group() -> None:
    """The config table (config_resource_export) in the config lakehouse."""


@config_group.command("push")
@project_option
@group_option()
def config_push(project_dir: Path, group: str | None) -> None:
    """Upsert the project's export rows into config_resource_export (locally: the local OneLake)."""
    from .local_run import push_project

    count, path = push_project(load(project_dir), group)
    click.secho(f"Pushed {count} export row(s) to {path}", fg="green")


# ---- render (notebook generator) -------------------------------------------------------------
def _shown(path: Path) -> Path:
    """``path`` resolved, relative to the current folder when below it (for messages)."""
    path = path.resolve()
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


@click.command()
@project_option
@group_option()
@click.option("--env", "-e", "environment", help="Render for this environment of fabgen.yaml.")
@out_option("the rendered items (default: the project's `output`, relative to the project)")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the output is not a fresh render.")
def render(
    project_dir: Path, group: str | None, environment: str | None, out_dir: Path | None, check: bool
) -> None:
    """Render notebooks (one per execution group) and a pipeline per group as Fabric items."""
    import time

    from .render import check_output, render_project, write_output

    started = time.perf_counter()
    project = load(project_dir)
    rendered = render_project(project, group=group, environment=environment)
    out = _shown(out_dir if out_dir is not None else project.output_dir)
    if check:
        problems = check_output(rendered, out)
        for path, problem in problems:
            click.secho(f"{problem:8} {out / path}", fg="red")
        if problems:
            click.secho(f"{len(problems)} file(s) out of date: run fabgen render", fg="red", err=True)
            sys.exit(1)
        click.secho(f"OK: {len(rendered.files)} file(s) in {out} match a fresh render", fg="green")
        return
    report = write_output(rendered, out)
    for path, status in report:
        if status != "unchanged":
            click.echo(f"{status:8} {out / path}")
    changed = sum(status != "unchanged" for _path, status in report)
    click.secho(
        f"Rendered {len(rendered.notebooks)} notebook(s) and {len(rendered.groups)} pipeline(s) "
        f"for {', '.join(rendered.groups)} into {out} ({changed} file(s) changed, "
        f"{time.perf_counter() - started:.2f} s)",
        fg="green",
    )


# ---- deploy / build-runtime (shipping to Fabric) ---------------------------------------------
@click.command("build-runtime")
@project_option
@out_option("the wheel (default: dist/ in the project, or in the current folder outside one)")
def build_runtime(project_dir: Path, out_dir: Path | None) -> None:
    """Build the runtime as a pure-Python wheel with no dependencies, for Fabric's Spark runtime."""
    from .wheel import build_runtime_wheel, default_out_dir

    info = build_runtime_wheel(out_dir if out_dir is not None else default_out_dir(project_dir))
    click.secho(f"Built {info.summary()}", fg="green")


@click.command()
@project_option
@click.option("--env", "-e", "env", required=True, help="Environment of fabgen.yaml to deploy to.")
@click.option("--prune", is_flag=True, help="Also remove fabgen-owned items no longer rendered.")
@click.option("--dry-run", is_flag=True, help="Render and list what would change; change nothing.")
@click.option(
    "--wheel",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Runtime wheel built before by build-runtime (default: build one now).",
)
@click.pass_context
def deploy(
    ctx: click.Context, project_dir: Path, env: str, prune: bool, dry_run: bool, wheel: Path | None
) -> None:
    """Render for ENV and publish the items to its workspace with fabric-cicd."""
    from .deploy import deploy_project

    project = load(project_dir)
    debug = bool(ctx.meta.get("fabgen.debug"))
    result = deploy_project(project, env, prune=prune, dry_run=dry_run, wheel=wheel, debug=debug)
    if result.wheel_step is not None:  # uploaded before any item is published
        click.echo(f"  {result.wheel_step}")
    for action in result.actions:
        click.echo(f"  {action}")
    for note in result.notes:
        click.secho(f"note: {note}", fg="yellow", err=True)
    counts = (
        ", ".join(
            f"{sum(a.verb == verb for a in result.actions)} {verb}"
            for verb in ("create", "update", "publish", "remove")
            if any(a.verb == verb for a in result.actions)
        )
        or "nothing"
    )
    if result.wheel_step is not None:
        wheel_verb = "uploaded" if result.wheel_step.verb == "upload" else "unchanged"
        if dry_run:
            wheel_verb = "to upload" if result.wheel_step.verb == "upload" else "unchanged"
        counts += f", runtime wheel {wheel_verb}"
    where = f"workspace {result.workspace_id} ({env})"
    if dry_run:
        click.secho(f"Dry run, nothing changed: {counts} in {where}; staged in {result.folder}", fg="green")
    else:
        click.secho(f"Deployed to {where}: {counts}", fg="green")


#: the commands cli.main adds (besides init and validate)
COMMANDS = [
    run,
    plan,
    recover,
    status,
    history,
    verify,
    report,
    config_group,
    local_group,
    render,
    build_runtime,
    deploy,
]
