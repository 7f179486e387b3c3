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
    group_option,
    json_option,
    load,
    out_option,
    project_option,
    run_date_option,
    timezone_option,
)
from .state_commands import history, report, status, verify


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
    for path, change in report:
        if change != "unchanged":
            click.echo(f"{change:8} {out / path}")
    changed = sum(change != "unchanged" for _path, change in report)
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
