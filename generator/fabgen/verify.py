"""``fabgen verify``: is every file a consumer relies on still there and intact? (issue #28)

For each export of a group, the manifests under ``Files/_fabgen_manifests/`` of its target lakehouse
say what its runs published; the owner record of each name (``_files/<name>.json``) says which run's
bytes are in place now (the authority, see docs/running.md, "Which manifest is current"). Every file
whose owner record names a manifest's run must exist with that manifest's size and SHA-256 (a trigger:
exist); a name a manifest lists whose owner record is gone is reported too. Files in the exports'
target folders that fabgen has no record of are listed as unknown. It reads, never writes; hashing
reads each published file once (that is the check).

Files are reached through a :class:`~fabgen_runtime.protocol.store.FileStore`: the local OneLake
(:class:`~fabgen_runtime.protocol.store.LocalFileStore`), or with ``--env E`` the workspace's
lakehouses over OneLake (:class:`fabgen.onelake_read.OneLakeFileStore`, delta-rs's object store).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fabgen_runtime.config import ExportConfig
from fabgen_runtime.protocol.owners import MANIFEST_FOLDER, OWNERS, owner_uri, read_owner
from fabgen_runtime.protocol.store import FileStore, LocalFileStore, join

#: ``(workspace, lakehouse)`` -> (the lakehouse's ``Files`` URI, the store that reads it)
FilesOf = Callable[[str, str], tuple[str, FileStore]]


@dataclass(frozen=True)
class Finding:
    """One file that is not as its manifest says: ``missing``, ``changed`` or ``unknown``."""

    kind: str
    path: str  # relative to the lakehouse's Files/
    detail: str
    export: str | None = None


@dataclass
class ExportCheck:
    """What ``verify`` found for one export."""

    export: str
    files_ok: int = 0
    manifests: int = 0
    findings: list[Finding] = field(default_factory=list)


@dataclass
class VerifyReport:
    """Every export's check and the unknown files of their target folders."""

    group: str
    exports: list[ExportCheck]
    unknown: list[Finding]
    env: str | None = None  # None: the local OneLake; else the environment whose workspace was read

    @property
    def ok(self) -> bool:
        return not self.unknown and not any(e.findings for e in self.exports)

    def document(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "command": "verify",
            "group": self.group,
            "env": self.env,
            "ok": self.ok,
            "exports": [
                {
                    "export": e.export,
                    "manifests": e.manifests,
                    "files_ok": e.files_ok,
                    "problems": [{"kind": f.kind, "path": f.path, "detail": f.detail} for f in e.findings],
                }
                for e in self.exports
            ],
            "unknown": [{"path": f.path, "detail": f.detail} for f in self.unknown],
        }


def _json(store: FileStore, uri: str) -> dict[str, Any] | None:
    try:
        data = json.loads(store.read_bytes(uri))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _json_files(store: FileStore, folder: str) -> Iterable[str]:
    """The ``.json`` files under ``folder``, recursively, by name; owner-record folders skipped."""
    for entry in store.list(folder):
        if entry.is_dir:
            if entry.name != OWNERS:
                yield from _json_files(store, entry.uri)
        elif entry.name.endswith(".json"):
            yield entry.uri


def manifests(store: FileStore, files_root: str) -> list[dict[str, Any]]:
    """Every manifest of a lakehouse (owner records aside)."""
    found = []
    for uri in _json_files(store, join(files_root, MANIFEST_FOLDER)):
        data = _json(store, uri)
        if data is not None and isinstance(data.get("files"), list) and data.get("export"):
            found.append(data)
    return found


def _owner(store: FileStore, files_root: str, directory: str, name: str) -> dict[str, Any] | None:
    record = read_owner(store, owner_uri(files_root, directory, name))
    return None if record is None else {"export_run_id": record.export_run_id, "export": record.export}


def check_export(
    store: FileStore, files_root: str, export: str, found: Iterable[dict[str, Any]]
) -> tuple[ExportCheck, set[str]]:
    """One export's check over its manifests; also the target folders (relative to Files/) they name."""
    check = ExportCheck(export)
    folders: set[str] = set()
    for manifest in (m for m in found if m["export"] == export):
        check.manifests += 1
        directory = str(manifest.get("directory") or "")
        folders.add(directory)
        entries = [
            (posixpath.basename(str(f["path"])), f.get("size"), f.get("sha256")) for f in manifest["files"]
        ]
        if manifest.get("trigger"):
            entries.append((posixpath.basename(str(manifest["trigger"])), None, None))
        for name, size, digest in entries:
            relative = f"{directory}/{name}" if directory else name
            owner = _owner(store, files_root, directory, name)
            if owner is None:
                detail = f"its owner record is gone (published by run {manifest['export_run_id']})"
                check.findings.append(Finding("missing", relative, detail, export))
                continue
            if owner.get("export_run_id") != manifest["export_run_id"]:
                continue  # replaced by a later run: that run's manifest is the current one
            uri = join(files_root, relative)
            found_size = _size(store, uri)
            if found_size is None:
                detail = f"published by run {manifest['export_run_id']}, not there"
                check.findings.append(Finding("missing", relative, detail, export))
            elif size is not None and found_size != size:
                detail = f"{found_size} bytes, the manifest says {size}"
                check.findings.append(Finding("changed", relative, detail, export))
            elif digest is not None and store.sha256(uri) != digest:
                check.findings.append(
                    Finding("changed", relative, "SHA-256 differs from the manifest", export)
                )
            else:
                check.files_ok += 1
    return check, folders


def _size(store: FileStore, uri: str) -> int | None:
    """The size of the file at ``uri``; None when no file is there (a folder is no file)."""
    try:
        return None if store.is_dir(uri) else store.size(uri)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        if not store.exists(uri):
            return None
        raise


def unknown_files(store: FileStore, files_root: str, folders: Iterable[str]) -> list[Finding]:
    """Files in ``folders`` (relative to Files/) that no owner record covers."""
    out = []
    for directory in sorted(set(folders)):
        folder = join(files_root, directory) if directory else files_root
        for entry in store.list(folder):
            if entry.is_dir:
                continue
            if _owner(store, files_root, directory, entry.name) is None:
                relative = f"{directory}/{entry.name}" if directory else entry.name
                out.append(Finding("unknown", relative, "no owner record: fabgen did not write it"))
    return out


def local_files(files_uri: Callable[[str, str], str]) -> FilesOf:
    """:data:`FilesOf` the local OneLake: ``files_uri(workspace, lakehouse)`` read with local file I/O."""
    store = LocalFileStore()
    return lambda workspace, lakehouse: (files_uri(workspace, lakehouse), store)


def verify(
    group: str, configs: list[ExportConfig], files_of: FilesOf, env: str | None = None
) -> VerifyReport:
    """Check ``configs``' published files; ``files_of(workspace, lakehouse)`` gives a lakehouse's
    ``Files`` and the store reading it (the configs' names are those of that store's workspace)."""
    checks: list[ExportCheck] = []
    unknown: list[Finding] = []
    by_lakehouse: dict[tuple[str, str], list[ExportConfig]] = {}
    for config in configs:
        by_lakehouse.setdefault((config.target_workspace, config.target_lakehouse), []).append(config)
    for (workspace, lakehouse), chosen in sorted(by_lakehouse.items()):
        files_root, store = files_of(workspace, lakehouse)
        found = manifests(store, files_root)
        folders: set[str] = set()
        for config in sorted(chosen, key=lambda c: c.key):
            check, seen = check_export(store, files_root, config.key, found)
            checks.append(check)
            folders |= seen
        unknown += unknown_files(store, files_root, folders)
    return VerifyReport(group, checks, unknown, env)


def report_lines(report: VerifyReport) -> list[str]:
    """The text of a report: a line per export, then one per problem."""
    lines = []
    for check in report.exports:
        state = "ok" if not check.findings else f"{len(check.findings)} problem(s)"
        published = f"{check.files_ok} file(s) as published" if check.manifests else "never published"
        lines.append(f"{check.export}: {published}, {state}")
        lines += [f"  {f.kind.upper()} {f.path}: {f.detail}" for f in check.findings]
    lines += [f"UNKNOWN {f.path}: {f.detail}" for f in report.unknown]
    total = sum(len(c.findings) for c in report.exports) + len(report.unknown)
    lines.append("OK: every published file is in place" if report.ok else f"{total} problem(s)")
    return lines
