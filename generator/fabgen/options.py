"""CLI options shared by fabgen's commands, declared once (as sqlmesh does), and project loading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .project import Project, load_project

F = TypeVar("F", bound=Callable[..., Any])


def project_option(func: F) -> F:
    """``--project DIR``: the folder holding fabgen.yaml (or below it)."""
    return click.option(
        "--project",
        "-p",
        "project_dir",
        default=".",
        show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Project folder (holding fabgen.yaml, or any folder below it).",
    )(func)


def group_option(required: bool = False) -> Callable[[F], F]:
    """``--group G``: the export group to act on."""
    return click.option("--group", "-g", required=required, help="Export group (export_group_name).")


def run_date_option(func: F) -> F:
    """``--run-date D``: the logical run date."""
    return click.option("--run-date", help="Logical run date, YYYY-MM-DD (default: today in the timezone).")(
        func
    )


def timezone_option(func: F) -> F:
    """``--timezone TZ``: the timezone of run_date and process_date."""
    return click.option("--timezone", help="IANA timezone for run_date/process_date (default: fabgen.yaml).")(
        func
    )


def json_option(func: F) -> F:
    """``--json``: one JSON document on stdout (logs and progress on stderr); exit codes unchanged."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print one JSON document on stdout (see docs/running.md); logs go to stderr.",
    )(func)


def out_option(what: str) -> Callable[[F], F]:
    """``--out DIR``: the folder to write ``what`` into (``out_dir``; None means the command's default)."""
    return click.option(
        "--out",
        "-o",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help=f"Folder for {what}.",
    )


def env_read_option(func: F) -> F:
    """``--env E``: read environment E's workspace over OneLake (delta-rs) instead of local Fabric."""
    return click.option(
        "--env",
        "-e",
        "env",
        metavar="ENV",
        help="Read environment ENV's workspace (fabgen.yaml environments:) over OneLake, "
        "with deploy's OneLake credential (docs/operations.md); default: local Fabric.",
    )(func)


def load(project_dir: Path) -> Project:
    """Load and validate the project (raises ConfigError listing every issue)."""
    return load_project(project_dir)
