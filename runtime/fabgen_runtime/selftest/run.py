"""Running the self-test: the checks of one notebook kind, in :data:`~.model.CHECKS` order, one row each.

Engine-neutral: :class:`Probes` carries what the engine's module
(:mod:`fabgen_runtime.engines.spark.selftest`, :mod:`fabgen_runtime.engines.python.selftest`) provides. Every
file the self-test writes is under ``Files/_fabgen_selftest/<run>/`` (``Files/_fabgen_*`` is fabgen's,
docs/config.md): of the config lakehouse for the rename, ``notebookutils.fs`` and Delta checks, and of
each target lakehouse for its ``files_writable`` row; all of it is removed at the end.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import platform as platform_mod
from ..protocol.store import join
from ..sources.odbc import SQL_AUDIENCE
from ..state_model import LakehouseLocation
from .access import check_odbc_driver, check_synapsesql, check_token
from .files import (
    FileOps,
    check_files_writable,
    check_notebookutils_fs,
    check_rename,
    check_scratch_removed,
    remove_scratch,
)
from .model import Row, checks_for, guarded

log = logging.getLogger(__name__)

SCRATCH = "_fabgen_selftest"


@dataclass
class Probes:
    """What one notebook kind checks with."""

    engine: str  # "spark" or "python": which checks run (model.CHECKS' engines)
    files: FileOps  # the engine's file store
    state_tables: Callable[[str], Row]  # the state_table_protocol row, given a scratch folder
    commit_race: Callable[[str], Row]  # the delta_commit_race row, given a scratch folder
    get_token: Callable[[str], Any] | None = None  # default: notebookutils.credentials.getToken
    audiences: Mapping[str, str] = field(default_factory=lambda: {"database_token": SQL_AUDIENCE})
    load_pyodbc: Callable[[], Any] | None = None  # default: import pyodbc
    notebook_fs: Any = None  # notebookutils.fs (the notebookutils_fs check)
    reader: Any = None  # spark.read (the synapsesql_connector check)


def run_id() -> str:
    """A name for one run's scratch folder: UTC time and a random suffix."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"


def _token_getter(probes: Probes) -> Callable[[str], Any]:
    if probes.get_token is not None:
        return probes.get_token
    import notebookutils

    getter: Callable[[str], Any] = notebookutils.credentials.getToken
    return getter


def _token_row(probes: Probes, check: str, audience: str) -> Row:
    return check_token(check, _token_getter(probes), audience)


def lakehouses(values: Iterable[Any]) -> list[LakehouseLocation]:
    """Lakehouses as the notebook lists them (``{"workspace", "lakehouse"}`` or ``"ws/lh"``), unique,
    in order."""
    found: list[LakehouseLocation] = []
    for value in values:
        location = LakehouseLocation.of(value)
        if location not in found:
            found.append(location)
    return found


def run_checks(
    probes: Probes,
    config_lakehouse: Any,
    target_lakehouses: Iterable[Any],
    platform: platform_mod.Platform | None = None,
    run: str | None = None,
) -> list[Row]:
    """Every check of ``probes.engine``, one row each (``files_writable``: one per target lakehouse)."""
    platform = platform or platform_mod.current()
    run = run or run_id()
    config = LakehouseLocation.of(config_lakehouse)
    scratch = platform_mod.files_uri(platform, config.workspace, config.lakehouse, f"{SCRATCH}/{run}")
    files = probes.files
    single: dict[str, Callable[[], Row]] = {
        "onelake_rename": lambda: check_rename(files, scratch),
        "notebookutils_fs": lambda: check_notebookutils_fs(probes.notebook_fs, scratch),
        "odbc_driver_18": lambda: check_odbc_driver(probes.load_pyodbc),
        "synapsesql_connector": lambda: check_synapsesql(probes.reader),
        "state_table_protocol": lambda: probes.state_tables(join(scratch, "state_table")),
        "delta_commit_race": lambda: probes.commit_race(join(scratch, "race")),
        "scratch_removed": lambda: check_scratch_removed(files, scratch),
    }
    for name, audience in probes.audiences.items():
        single[name] = functools.partial(_token_row, probes, name, audience)
    rows: list[Row] = []
    for check in checks_for(probes.engine):
        if check.name == "files_writable":
            rows += [
                _writable(files, platform, target, config, run) for target in lakehouses(target_lakehouses)
            ]
        elif check.name in single:
            log.info("self-test: %s", check.name)
            rows.append(guarded(check.name, single[check.name]))
        else:
            raise ValueError(f"the {probes.engine} self-test has no probe for {check.name}")
    return rows


def _writable(
    files: FileOps,
    platform: platform_mod.Platform,
    target: LakehouseLocation,
    config: LakehouseLocation,
    run: str,
) -> Row:
    label = f"{target.workspace}/{target.lakehouse}"
    log.info("self-test: files_writable (%s)", label)

    def probe() -> Row:
        folder = platform_mod.files_uri(platform, target.workspace, target.lakehouse, f"{SCRATCH}/{run}")
        row = check_files_writable(files, label, join(folder, "writable"))
        if target != config:  # the config lakehouse's scratch folder goes last (scratch_removed)
            remove_scratch(files, folder)
        return row

    return guarded("files_writable", probe, label)
