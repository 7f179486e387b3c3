"""Manifests, the record of files fabgen owns, and the rules that never destroy rows.

Every published export run writes a manifest, ``Files/_fabgen_manifests/<directory>/<export_run_id>.json``
(files with size, SHA-256 and rows, the trigger, rows, bytes, schema, watermarks), and one small
owner record per published file, ``Files/_fabgen_manifests/<directory>/_files/<name>.json``
(export, run, manifest, size, SHA-256, rows). Both live outside the target directory, so consumers that
poll it see only data and trigger files. Before a run publishes, :func:`resolve_destinations`
applies the rules to every destination that already exists:

* not recorded as this export's (another export's, or a file fabgen did not write, or a file
  changed since: its size or SHA-256 differs from the owner record's) → the export fails, nothing
  is touched;
* the run has 0 rows and the earlier file has data rows → the earlier file is kept;
* an incremental export would replace a file of an earlier run → refused, naming both runs;
* a full or period export replaces its own earlier file (moved aside, restored on rollback).

Which manifest is current: a full or period export re-publishes the same names, so several
manifests may list one name. The owner record is the one authority on whose bytes are in place
(:func:`current_manifest_path`); ``published_at`` (UTC, microseconds) is informative only, and a
manifest's ``replaces`` names the earlier runs whose files it replaced.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import PublishError
from .journal import Journal, ReplacedFile
from .store import FileStore, join

MANIFEST_FOLDER = "_fabgen_manifests"
OWNERS = "_files"


@dataclass(frozen=True)
class OwnerRecord:
    """Which export run published a file."""

    export: str
    export_run_id: str
    manifest_path: str | None
    size: int
    rows: int
    sha256: str | None = None


def manifest_dir(files_root: str, directory: str) -> str:
    """URI of the manifest folder of a target directory (``files_root`` is the lakehouse's ``Files``)."""
    return join(files_root, MANIFEST_FOLDER, directory)


def manifest_relpath(directory: str, export_run_id: str) -> str:
    """The manifest of a run, relative to ``Files/``."""
    return (
        posixpath.join(MANIFEST_FOLDER, directory, f"{export_run_id}.json")
        if directory
        else posixpath.join(MANIFEST_FOLDER, f"{export_run_id}.json")
    )


def owner_uri(files_root: str, directory: str, name: str) -> str:
    """URI of the owner record of the file ``name`` in ``directory``."""
    return join(manifest_dir(files_root, directory), OWNERS, f"{name}.json")


def read_owner(store: FileStore, uri: str) -> OwnerRecord | None:
    """An owner record, or None when there is none (or it is unreadable)."""
    if not store.exists(uri):
        return None
    try:
        return OwnerRecord(**json.loads(store.read_bytes(uri).decode()))
    except (ValueError, TypeError):
        return None


def current_manifest_path(store: FileStore, files_root: str, directory: str, name: str) -> str | None:
    """The manifest (relative to ``Files/``) of the run whose bytes are at ``directory/name`` now.

    ``name`` is a data file's or a trigger's name. None when fabgen has no record of the file.
    """
    owner = read_owner(store, owner_uri(files_root, directory, name))
    return owner.manifest_path if owner is not None else None


def resolve_destinations(
    store: FileStore,
    export: str,
    export_run_id: str,
    extract_type: str,
    rows: int,
    files: list[tuple[str, str]],
    trigger: str | None,
    files_root: str,
    directory: str,
    aside_dir: str,
) -> tuple[list[ReplacedFile], list[str]]:
    """Apply the no-destroy rules to ``files`` (``(name, destination)``) and the trigger.

    Returns (files to move aside, destinations to keep). Raises :class:`PublishError` naming
    the export and the file when a destination may not be replaced.
    """
    replaced: list[ReplacedFile] = []
    kept: list[str] = []
    for index, (name, dest) in enumerate(files):
        if not store.exists(dest):
            continue
        owner = _owned(store, export, name, dest, files_root, directory)
        if rows == 0 and owner.rows > 0:
            kept.append(dest)
        elif extract_type == "incremental" and rows > 0:
            raise PublishError(
                f"{dest} was published by run {owner.export_run_id} of this export; run {export_run_id} "
                "would replace it and its rows (incremental exports never replace an earlier file): put "
                "{run_id} or {timestamp} in target_filename_pattern so every run writes new files",
                export,
            )
        elif extract_type == "incremental":
            kept.append(dest)  # 0 rows over an empty earlier file: nothing to add
        else:
            _check_unchanged(store, export, dest, owner)
            replaced.append(
                ReplacedFile(
                    dest, join(aside_dir, f"{index:05d}"), owner.size, owner.export_run_id, asdict(owner)
                )
            )
    if trigger and store.exists(trigger) and len(kept) < len(files):
        name = posixpath.basename(trigger)
        owner = _owned(store, export, name, trigger, files_root, directory)
        aside = join(aside_dir, "trigger")
        replaced.insert(0, ReplacedFile(trigger, aside, owner.size, owner.export_run_id, asdict(owner)))
    return replaced, kept


def _owned(
    store: FileStore, export: str, name: str, dest: str, files_root: str, directory: str
) -> OwnerRecord:
    if store.is_dir(dest):
        raise PublishError(f"cannot publish {dest}: a directory is in the way", export)
    owner = read_owner(store, owner_uri(files_root, directory, name))
    if owner is None or owner.export != export:
        whose = (
            f"export {owner.export}" if owner is not None else "no fabgen manifest (fabgen did not write it)"
        )
        raise PublishError(
            f"{dest} already exists and is not this export's ({whose}): it is left untouched and nothing "
            "was published; move it away or change target_filename_pattern",
            export,
        )
    size = store.size(dest)
    if size != owner.size:
        raise PublishError(
            f"{dest} was published by run {owner.export_run_id} with {owner.size} bytes but now has {size}: "
            "changed outside fabgen, so it is left untouched and nothing was published",
            export,
        )
    return owner


def _check_unchanged(store: FileStore, export: str, dest: str, owner: OwnerRecord) -> None:
    """Before a file is replaced: its bytes are still the ones its run published (SHA-256).

    Only files about to be replaced are hashed (sizes already match); trigger records have no hash.
    """
    if owner.sha256 is None:
        return
    digest = store.sha256(dest)
    if digest != owner.sha256:
        raise PublishError(
            f"{dest} was published by run {owner.export_run_id} with SHA-256 {owner.sha256} but now "
            f"has {digest}: changed outside fabgen, so it is left untouched and nothing was published",
            export,
        )


def manifest_body(journal: Journal, published_at: str) -> dict[str, Any]:
    """The manifest of a journal's file set (paths relative to ``Files/``)."""

    def rel(uri: str) -> str:
        return (
            posixpath.join(journal.directory, posixpath.basename(uri))
            if journal.directory
            else posixpath.basename(uri)
        )

    return {
        "version": 1,
        "export": journal.export,
        "export_run_id": journal.export_run_id,
        "execution_id": journal.execution_id,
        "run_date": journal.run_date,
        "published_at": published_at,
        "workspace": journal.workspace,
        "lakehouse": journal.lakehouse,
        "directory": journal.directory,
        "files": [
            {"name": f.name, "path": rel(f.destination), "size": f.size, "sha256": f.sha256, "rows": f.rows}
            for f in journal.files
        ],
        "kept": [rel(k) for k in journal.kept],
        "replaces": [{"path": rel(r.destination), "export_run_id": r.owner_run_id} for r in journal.replaced],
        "trigger": rel(journal.trigger) if journal.trigger and journal.files else None,
        "rows": journal.rows,
        "bytes": sum(f.size for f in journal.files),
        "schema": journal.schema,
        "incremental_column": journal.incremental_column,
        "watermark_from": journal.start_watermark,
        "watermark_to": journal.new_watermark,
    }


def write_manifest(store: FileStore, journal: Journal, files_root: str, published_at: str) -> None:
    """Write the manifest and the owner record of every file (and the trigger) of the set."""
    if journal.manifest is None:
        return
    body = manifest_body(journal, published_at)
    store.write_bytes(journal.manifest, json.dumps(body, indent=1, sort_keys=True).encode(), overwrite=True)
    records = [
        (
            f.name,
            OwnerRecord(
                journal.export, journal.export_run_id, journal.manifest_path, f.size, f.rows, f.sha256
            ),
        )
        for f in journal.files
    ]
    if journal.trigger and journal.files:
        records.append(
            (
                posixpath.basename(journal.trigger),
                OwnerRecord(journal.export, journal.export_run_id, journal.manifest_path, 0, 0, None),
            )
        )
    for name, record in records:
        uri = owner_uri(files_root, journal.directory, name)
        store.write_bytes(uri, json.dumps(asdict(record), sort_keys=True).encode(), overwrite=True)


def restore_owners(store: FileStore, journal: Journal, files_root: str) -> None:
    """After a rollback: the replaced files' owner records back, the run's own ones removed."""
    restored = {r.destination: r.owner for r in journal.replaced}
    names = [(f.destination, f.name) for f in journal.files]
    if journal.trigger:
        names.append((journal.trigger, posixpath.basename(journal.trigger)))
    for dest, name in names:
        uri = owner_uri(files_root, journal.directory, name)
        previous = restored.get(dest)
        if previous is not None:
            store.write_bytes(uri, json.dumps(previous, sort_keys=True).encode(), overwrite=True)
            continue
        current = read_owner(store, uri)
        if current is not None and current.export_run_id == journal.export_run_id:
            store.delete(uri)
