"""``fabgen verify``: is every file a consumer relies on still there and intact? (issue #28)

For each export of a group, the manifests under ``Files/_fabgen_manifests/`` of its target lakehouse
say what its runs published; the owner record of each name (``_files/<name>.json``) says which run's
bytes are in place now (the authority, see docs/running.md, "Which manifest is current"). Every file
whose owner record names a manifest's run must exist with that manifest's size and SHA-256 (a trigger:
exist); a name a manifest lists whose owner record is gone is reported too. Files in the exports'
target folders that fabgen has no record of are listed as unknown. It reads, never writes; hashing
reads each published file once (that is the check).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabgen_runtime.config import ExportConfig
from fabgen_runtime.protocol.owners import MANIFEST_FOLDER, OWNERS, owner_uri, read_owner
from fabgen_runtime.protocol.store import LocalFileStore, file_sha256


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

    @property
    def ok(self) -> bool:
        return not self.unknown and not any(e.findings for e in self.exports)

    def document(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "command": "verify",
            "group": self.group,
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


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def manifests(files_root: Path) -> list[dict[str, Any]]:
    """Every manifest of a lakehouse (owner records aside)."""
    root = files_root / MANIFEST_FOLDER
    found = []
    for path in sorted(root.rglob("*.json")) if root.is_dir() else []:
        if OWNERS in path.relative_to(root).parts:
            continue
        data = _json(path)
        if data is not None and isinstance(data.get("files"), list) and data.get("export"):
            found.append(data)
    return found


def _owner(files_root: Path, directory: str, name: str) -> dict[str, Any] | None:
    record = read_owner(LocalFileStore(), owner_uri(str(files_root), directory, name))
    return None if record is None else {"export_run_id": record.export_run_id, "export": record.export}


def check_export(
    files_root: Path, export: str, found: Iterable[dict[str, Any]]
) -> tuple[ExportCheck, set[str]]:
    """One export's check over its manifests; also the target folders (relative to Files/) they name."""
    check = ExportCheck(export)
    folders: set[str] = set()
    for manifest in (m for m in found if m["export"] == export):
        check.manifests += 1
        directory = str(manifest.get("directory") or "")
        folders.add(directory)
        entries = [(Path(str(f["path"])).name, f.get("size"), f.get("sha256")) for f in manifest["files"]]
        if manifest.get("trigger"):
            entries.append((Path(str(manifest["trigger"])).name, None, None))
        for name, size, digest in entries:
            relative = f"{directory}/{name}" if directory else name
            owner = _owner(files_root, directory, name)
            if owner is None:
                detail = f"its owner record is gone (published by run {manifest['export_run_id']})"
                check.findings.append(Finding("missing", relative, detail, export))
                continue
            if owner.get("export_run_id") != manifest["export_run_id"]:
                continue  # replaced by a later run: that run's manifest is the current one
            path = files_root / relative
            if not path.is_file():
                detail = f"published by run {manifest['export_run_id']}, not there"
                check.findings.append(Finding("missing", relative, detail, export))
            elif size is not None and path.stat().st_size != size:
                detail = f"{path.stat().st_size} bytes, the manifest says {size}"
                check.findings.append(Finding("changed", relative, detail, export))
            elif digest is not None and file_sha256(str(path)) != digest:
                check.findings.append(
                    Finding("changed", relative, "SHA-256 differs from the manifest", export)
                )
            else:
                check.files_ok += 1
    return check, folders


def unknown_files(files_root: Path, folders: Iterable[str]) -> list[Finding]:
    """Files in ``folders`` (relative to Files/) that no owner record covers."""
    out = []
    for directory in sorted(set(folders)):
        folder = files_root / directory if directory else files_root
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if not path.is_file():
                continue
            if _owner(files_root, directory, path.name) is None:
                relative = f"{directory}/{path.name}" if directory else path.name
                out.append(Finding("unknown", relative, "no owner record: fabgen did not write it"))
    return out


def verify(group: str, configs: list[ExportConfig], files_root_of: Any) -> VerifyReport:
    """Check ``configs``' published files; ``files_root_of(workspace, lakehouse)`` is a ``Files`` folder."""
    checks: list[ExportCheck] = []
    unknown: list[Finding] = []
    by_lakehouse: dict[tuple[str, str], list[ExportConfig]] = {}
    for config in configs:
        by_lakehouse.setdefault((config.target_workspace, config.target_lakehouse), []).append(config)
    for (workspace, lakehouse), chosen in sorted(by_lakehouse.items()):
        files_root = Path(files_root_of(workspace, lakehouse))
        found = manifests(files_root)
        folders: set[str] = set()
        for config in sorted(chosen, key=lambda c: c.key):
            check, seen = check_export(files_root, config.key, found)
            checks.append(check)
            folders |= seen
        unknown += unknown_files(files_root, folders)
    return VerifyReport(group, checks, unknown)


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
