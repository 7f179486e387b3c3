"""Publishing a staged output: the run protocol's journal for it, over any engine's ``FileStore``.

:func:`build_journal` turns what :func:`fabgen_runtime.engines.spark.writer.write` staged into the publish
intent: each file's destination, size, SHA-256 and rows, and what the no-destroy rules of
:mod:`fabgen_runtime.protocol.owners` decide for destinations that exist (replace a full/period
export's own earlier file, keep an earlier non-empty file over a 0-row run, refuse otherwise).
:func:`publish_staged` runs :func:`fabgen_runtime.protocol.publish.publish` on it: journal, files moved
aside, renames, manifest, trigger last. Consumers never see a partial file set: every file is
complete in staging before it is renamed into place, and the trigger comes last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import platform as platform_mod
from .errors import PublishError
from .protocol import owners
from .protocol import publish as protocol
from .protocol.journal import Journal, JournalFile
from .protocol.store import join

if TYPE_CHECKING:
    from .plan import ExportPlan
    from .protocol.store import FileStore
    from .staged import StagedOutput

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
    manifest_path: str | None = None
    kept: tuple[str, ...] = ()


def staging_uri(plan: ExportPlan, platform: platform_mod.Platform) -> str:
    """URI of the plan's staging directory."""
    out = plan.output
    return platform_mod.files_uri(platform, out.workspace, out.lakehouse, out.staging_directory)


def run_staging_uri(
    workspace: str, lakehouse: str, export_run_id: str, platform: platform_mod.Platform
) -> str:
    """URI of an export run's staging directory, before its plan exists (same as :func:`staging_uri`)."""
    return platform_mod.files_uri(
        platform, workspace, lakehouse, f"{protocol.STAGING_FOLDER}/{export_run_id}"
    )


def files_root(plan: ExportPlan, platform: platform_mod.Platform) -> str:
    """URI of the target lakehouse's ``Files``."""
    return platform_mod.files_uri(platform, plan.output.workspace, plan.output.lakehouse)


def build_journal(
    staged: StagedOutput,
    plan: ExportPlan,
    platform: platform_mod.Platform,
    fs: FileStore,
    **extra: Any,
) -> Journal:
    """The publish intent of ``staged`` (phase ``intent``); ``extra`` sets further journal fields.

    Raises :class:`PublishError` (naming the export and file) when a destination may not be
    replaced; nothing has been touched then.
    """
    out, config = plan.output, plan.config
    root = files_root(plan, platform)
    target = platform_mod.files_uri(platform, out.workspace, out.lakehouse, out.directory)
    trigger = join(target, out.trigger_filename) if out.trigger_filename else None
    files = [JournalFile(f.name, f.uri, join(target, f.name), f.size, f.sha256, f.rows) for f in staged.files]
    for dest in [f.destination for f in files] + ([trigger] if trigger else []):
        if fs.is_dir(dest):
            raise PublishError(f"cannot publish {dest}: a directory is in the way", config.key)
    replaced, kept = owners.resolve_destinations(
        fs,
        config.key,
        plan.export_run_id,
        config.extract_type,
        staged.rows,
        [(f.name, f.destination) for f in files],
        trigger,
        root,
        out.directory,
        join(staged.staging_uri, "replaced"),
    )
    files = [f for f in files if f.destination not in kept]
    manifest_path = owners.manifest_relpath(out.directory, plan.export_run_id) if files else None
    fields: dict[str, Any] = {
        "execution_id": plan.context.execution_id,
        "run_date": plan.context.run_date.date().isoformat(),
        "new_watermark": staged.max_watermark if staged.rows and config.incremental_column else None,
        "incremental_column": config.incremental_column,
    }
    fields.update(extra)
    return Journal(
        export=config.key,
        export_run_id=plan.export_run_id,
        workspace=out.workspace,
        lakehouse=out.lakehouse,
        directory=out.directory,
        target=target,
        staging=staged.staging_uri,
        files=files,
        trigger=trigger,
        replaced=replaced,
        rows=staged.rows,
        manifest=join(root, manifest_path) if manifest_path else None,
        manifest_path=manifest_path,
        kept=kept,
        **fields,
    )


def publish_staged(
    fs: FileStore,
    staged: StagedOutput,
    plan: ExportPlan,
    platform: platform_mod.Platform,
    journal: Journal | None = None,
    failpoint: Callable[[str], None] | None = None,
    keep_journal: bool = False,
) -> PublishedOutput:
    """Publish ``staged`` through its journal over ``fs``, then remove staging (``keep_journal``: leave the
    journal, phase ``published``, for bookkeeping that completes later, as the orchestrator does).

    Raises ``PublishError`` (naming the export) after rolling back whatever it had moved.
    """
    journal = journal or build_journal(staged, plan, platform, fs)
    done = protocol.publish(fs, journal, files_root(plan, platform), failpoint or (lambda _p: None))
    if not keep_journal:
        protocol.finish(fs, done.staging)
    log.info("%s: published %d file(s) to %s", plan.config.key, len(done.files), done.target)
    return PublishedOutput(
        file_paths=tuple(f.destination for f in done.files),
        trigger_path=done.trigger if done.files else None,
        rows=staged.rows,
        files=len(done.files),
        total_bytes=sum(f.size for f in done.files),
        max_watermark=staged.max_watermark,
        part_rows=staged.part_rows,
        manifest_path=done.manifest_path,
        kept=tuple(done.kept),
    )


def discard(plan: ExportPlan, platform: platform_mod.Platform, fs: FileStore) -> None:
    """Remove the plan's staging directory, journal included (safe after any failure, or twice)."""
    staging = staging_uri(plan, platform)
    try:
        protocol.finish(fs, staging)
    except OSError as exc:
        raise PublishError(f"could not remove staging {staging}: {exc}", plan.config.key) from exc
