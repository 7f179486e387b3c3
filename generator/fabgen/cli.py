"""The ``fabgen`` command line: thin click commands over the library modules.

One error handler (:class:`FabgenGroup`) turns fabgen's errors into a red message and an exit
code pipelines can trust: 2 for bad config or usage, 1 for a failed run. ``--debug`` shows the
traceback. Options every command shares are declared once (:func:`project_option`).
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import traceback
from pathlib import Path
from typing import Any

import click
from fabgen_runtime.errors import ConfigError, FabgenError

from . import __version__, commands
from .options import load, project_option
from .project import export_count

log = logging.getLogger("fabgen")


def report_error(exc: FabgenError) -> None:
    """Print ``exc`` to stderr: one red line per config issue, or one red line for the error."""
    issues = exc.issues if isinstance(exc, ConfigError) else []
    if issues:
        for issue in issues:
            click.secho(f"Error: {' '.join(str(issue).split())}", fg="red", err=True)
        if len(issues) > 1:
            click.echo(f"{len(issues)} errors.", err=True)
    else:
        click.secho(f"Error: {' '.join(str(exc).split())}", fg="red", err=True)


class FabgenGroup(click.Group):
    """A click group whose commands report fabgen errors as red lines and an exit code.

    Exit codes: 0 success; 2 bad config or usage (:class:`ConfigError`, click usage errors);
    1 a failed run (any other :class:`FabgenError`). ``--debug`` prints the traceback first.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FabgenError as exc:
            if ctx.meta.get("fabgen.debug"):
                click.echo(traceback.format_exc(), err=True)
            report_error(exc)
            ctx.exit(exc.exit_code)


@click.group(cls=FabgenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fabgen")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """fabgen: config-driven file exports for Microsoft Fabric.

    Describe exports as config rows, check them (validate, plan), run them locally (run),
    and render them as Fabric notebooks and a pipeline (render, deploy).
    """
    ctx.meta["fabgen.debug"] = debug
    if debug:  # the local JVM's start-up lines too (see fabgen.jvm_output)
        os.environ["FABGEN_SPARK_STARTUP_LOGS"] = "1"
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(message)s" if not debug else "%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "urllib3", "azure", "fabric_cicd"):
        logging.getLogger(noisy).setLevel(logging.ERROR if not debug else logging.DEBUG)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Project name (default: the folder's name).")
@click.option(
    "--example",
    is_flag=True,
    help="Add sample data (a CSV and a Parquet file), load it into the local OneLake, and use the "
    "python engine: `fabgen run` works at once, with no JVM.",
)
def init(directory: Path, name: str | None, example: bool) -> None:
    """Scaffold a new project in DIRECTORY that validates as it is (--example: and runs at once)."""
    from .scaffold import group_name, scaffold

    project_name = name or directory.resolve().name
    if example:
        init_example(directory, project_name)
        return
    created = scaffold(directory, project_name)
    for path in created:
        click.echo(f"created {path}")
    click.secho(f"Project ready: cd {shlex.quote(str(directory))} && fabgen validate", fg="green")
    click.echo(
        "Next: load the source table the rows read into local Fabric, then run it:\n"
        "  fabgen local load --table DEV_WORKSPACE/lh_gold/dbo.orders orders.csv   # or .parquet / .json\n"
        f"  fabgen run -g {group_name(project_name)}   (docs/own-data.md)"
    )


def init_example(directory: Path, project_name: str) -> None:
    """``init --example``: the example project, its samples loaded, and the commands to try."""
    from .scaffold_example import RUN_DATE, group_name, load_commands, load_samples, scaffold_example

    for path in scaffold_example(directory, project_name):
        click.echo(f"created {path}")
    for table, rows in load_samples(directory):
        click.echo(f"loaded {rows} row(s) into {table}")
    group = group_name(project_name)
    click.secho(f"Example ready: cd {shlex.quote(str(directory))}", fg="green")
    click.echo(
        f"Next: fabgen run -g {group} --run-date {RUN_DATE}   (then status, verify, report; README.md)\n"
        "To load the samples again:\n" + "\n".join(f"  {command}" for command in load_commands())
    )


@main.command()
@project_option
def validate(project_dir: Path) -> None:
    """Check fabgen.yaml and every export row; list every error at once (exit 2 when any)."""
    from fabgen_runtime.config_rules import warnings

    project = load(project_dir)  # a ConfigError lists every issue, one red line each, exit 2
    for config in project.configs:
        for warning in warnings(config):
            click.secho(f"Warning: {' '.join(str(warning).split())}", fg="yellow", err=True)
    groups = project.groups()
    counted = export_count(project.configs)
    named = [f"{g} (engine: python)" if project.engine(g) == "python" else g for g in groups]
    click.secho(f"OK: {counted}, in {len(groups)} group(s): {', '.join(named)}", fg="green")


for _command in commands.COMMANDS:
    main.add_command(_command)


def run() -> None:
    """The ``fabgen`` console script: :func:`main`, then an exit that skips native teardown.

    Python's atexit handlers run as usual; then the process ends with :func:`os._exit`, skipping
    the interpreter's finalisation and C++ static destructors. Without that, a command that read
    Delta tables through delta-rs and pyarrow's dataset scanner aborts at exit now and then
    (``terminate called without an active exception``, exit -6) after its work is done and printed
    (measured: 2 of 50 ``fabgen status --env`` runs; apache/arrow#34314, delta-io/delta-rs#2184),
    which a pipeline would read as a failure.
    """
    import atexit

    try:
        main.main(prog_name="fabgen")  # standalone mode: errors are reported, the exit code raised
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    atexit._run_exitfuncs()  # logging's flush, pyspark's and papermill's own clean-ups
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
