"""Move staged files into ``Files/<target_path>/``, then write the trigger file; or discard staging.

:func:`publish` never leaves a partial file where consumers look: every file is complete in
staging before it is renamed into place (a rename within one file system). Files from an
earlier run of the same export with the same names are moved aside first and restored if the
publish fails midway; files already moved are moved back, and no trigger file is written. An
earlier trigger file of the same name is taken away *before* any data file is replaced, and the
new one is created last, only after every data file is in place. On success the staging
directory is removed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import platform as platform_mod
from .errors import PublishError
from .fs import HadoopFS, join
from .plan import STAGING_FOLDER

if TYPE_CHECKING:
    from .plan import ExportPlan
    from .writer import StagedOutput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedOutput:
    """Where an export's files went, for the log tables."""

    file_paths: tuple[str, ...]
    trigger_path: str | None
    rows: int
    files: int
    total_bytes: int
    max_watermark: str | None
    part_rows: tuple[int, ...]


def _fs(platform: platform_mod.Platform) -> HadoopFS:
    return HadoopFS(platform.spark())


def staging_uri(plan: ExportPlan, platform: platform_mod.Platform) -> str:
    """URI of the plan's staging directory."""
    out = plan.output
    return platform_mod.files_uri(platform, out.workspace, out.lakehouse, out.staging_directory)


def publish(
    staged: StagedOutput, plan: ExportPlan, platform: platform_mod.Platform | None = None
) -> PublishedOutput:
    """Move the staged files into the export's target directory, then write its trigger file.

    Raises ``PublishError`` (naming the export) after rolling back whatever it had moved.
    """
    platform = platform or platform_mod.current()
    fs = _fs(platform)
    out = plan.output
    export = plan.config.key
    target = platform_mod.files_uri(platform, out.workspace, out.lakehouse, out.directory)
    staging = staging_uri(plan, platform)
    backup = join(staging, "replaced")
    trigger = join(target, out.trigger_filename) if out.trigger_filename else None
    destinations = [(f.uri, join(target, f.name)) for f in staged.files]

    moved: list[tuple[str, str]] = []  # (staged, destination): put back on failure
    set_aside: list[tuple[str, str]] = []  # (destination, backup): restore on failure
    try:
        for _src, dest in destinations + ([("", trigger)] if trigger else []):
            if fs.is_dir(dest):
                raise PublishError(f"cannot publish {dest}: a directory is in the way", export)
        fs.mkdirs(target)
        if trigger and fs.exists(trigger):  # consumers must not see an old trigger beside new files
            fs.rename(trigger, join(backup, "trigger"))
            set_aside.append((trigger, join(backup, "trigger")))
        for index, (src, dest) in enumerate(destinations):
            if fs.exists(dest):
                fs.rename(dest, join(backup, f"{index:05d}"))
                set_aside.append((dest, join(backup, f"{index:05d}")))
            fs.rename(src, dest)
            moved.append((src, dest))
        if trigger:
            fs.create_empty(trigger)
    except (PublishError, OSError) as exc:
        problems = _rollback(fs, moved, set_aside)
        message = exc.args[0] if isinstance(exc, PublishError) else f"publishing failed: {exc}"
        if problems:
            message += "; rollback incomplete: " + "; ".join(problems)
        raise PublishError(message.removeprefix(f"{export}: "), export) from exc

    _remove_staging(fs, staging)
    log.info("%s: published %d file(s) to %s", export, len(destinations), target)
    return PublishedOutput(
        file_paths=tuple(dest for _src, dest in destinations),
        trigger_path=trigger,
        rows=staged.rows,
        files=staged.files_count,
        total_bytes=staged.total_bytes,
        max_watermark=staged.max_watermark,
        part_rows=staged.part_rows,
    )


def _rollback(fs: HadoopFS, moved: list[tuple[str, str]], set_aside: list[tuple[str, str]]) -> list[str]:
    problems = []
    for src, dest in reversed(moved):
        try:
            fs.rename(dest, src)
        except OSError as exc:
            problems.append(f"could not move {dest} back: {exc}")
    for dest, saved in reversed(set_aside):
        try:
            fs.rename(saved, dest)
        except OSError as exc:
            problems.append(f"could not restore {dest}: {exc}")
    return problems


def _remove_staging(fs: HadoopFS, staging: str) -> None:
    fs.delete(staging, recursive=True)
    parent = staging.rstrip("/").rsplit("/", 1)[0]
    if parent.endswith(STAGING_FOLDER) and not fs.list(parent):
        try:  # other runs may be staging next to us: only an empty folder is removed
            fs.delete(parent, recursive=False)
        except OSError:
            log.debug("staging folder %s not removed (in use)", parent)


def discard(plan: ExportPlan, platform: platform_mod.Platform | None = None) -> None:
    """Remove the plan's staging directory (safe to call after any failure, or twice)."""
    platform = platform or platform_mod.current()
    fs = _fs(platform)
    staging = staging_uri(plan, platform)
    try:
        _remove_staging(fs, staging)
    except OSError as exc:
        raise PublishError(f"could not remove staging {staging}: {exc}", plan.config.key) from exc
