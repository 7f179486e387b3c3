"""The deletion vector of each data file of a Delta table version, read from ``_delta_log`` itself.

delta-rs loads a table with deletion vectors, but neither deltalake 1.2.1 (Fabric's python3.12
kernel) nor 1.6.6 lists the ``deletionVector`` of its ``add`` actions (``get_add_actions`` has no
such column; docs/python-engine.md). So the log is replayed here, only for that: the newest complete
checkpoint at or before the version (single-file or multi-part Parquet; its ``add.path`` and
``add.deletionVector`` columns), then each JSON commit after it up to the version, reconciling
``add`` and ``remove`` actions by file path and DV ``uniqueId`` as the protocol's "Action
Reconciliation" says (Spark's DELETE writes the file's new ``add`` before the ``remove`` of its old
one in the same commit). The caller compares the files found with delta-rs's own list and
refuses the table when they differ.

:func:`damaged_commits` checks the commit files after the newest checkpoint for damage delta-rs
either fails on without naming the file (a truncated or garbage commit) or accepts without a word
(an empty one: a commit of no actions); the state tables call it (:mod:`.tables`).
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

from .deletion_vectors import DeletionVectorError, Descriptor

LOG = "_delta_log"
_COMMIT = re.compile(r"(\d{20})\.json")
_CHECKPOINT = re.compile(r"(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?\.parquet")

#: smaller than any commit a writer makes (each has an action: ``commitInfo`` alone is ~100 bytes)
SMALL = 32

Files = dict[tuple[str, str], Descriptor | None]  # (decoded path, DV uniqueId or "") -> DV


def _checkpoint(names: list[str], version: int) -> tuple[int, list[str]] | None:
    """The newest complete checkpoint at or before ``version``: its version and file names."""
    found: dict[tuple[int, int], list[str]] = {}
    for name in names:
        match = _CHECKPOINT.fullmatch(name)
        if match and int(match.group(1)) <= version:
            parts = int(match.group(3) or 1)
            found.setdefault((int(match.group(1)), parts), []).append(name)
    complete = [(v, sorted(files)) for (v, parts), files in found.items() if len(set(files)) == parts]
    return max(complete) if complete else None


def _damage(data: bytes) -> str | None:
    """What is wrong with one commit file's bytes, or None: a commit is JSON lines, one action
    (a JSON object) per line, and at least one action."""
    if not data.strip():
        return "is empty (0 bytes)" if not data else "holds no action"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"is not UTF-8 text (byte {exc.start})"
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            action = json.loads(line)
        except json.JSONDecodeError as exc:
            return f"is not valid JSON (line {number}, column {exc.colno}: {exc.msg})"
        if not isinstance(action, dict):
            return f"is not valid JSON lines (line {number} is not an object)"
    return None


def damaged_commits(filesystem: pa_fs.FileSystem, read: bool) -> list[tuple[str, str]]:
    """``(file name, what is wrong)`` of each damaged commit file after the newest checkpoint, oldest first.

    ``filesystem`` is rooted at the table folder; the log is listed once. Without ``read``, only
    commit files smaller than any real commit (``SMALL``: 0 bytes, or a few blanks) are read and
    checked: delta-rs takes those as commits of no actions, without a word; with ``read``, every
    commit file after the checkpoint is (only once delta-rs has failed on the table: one read per
    commit). Commits before the newest complete checkpoint are not checked: readers never replay them.
    """
    infos = filesystem.get_file_info(pa_fs.FileSelector(LOG, allow_not_found=True))
    sizes = {info.base_name: info.size for info in infos}
    checkpoint = _checkpoint(list(sizes), 10**20)
    start = checkpoint[0] + 1 if checkpoint else 0
    commits = sorted((int(m.group(1)), m.group(0)) for m in map(_COMMIT.fullmatch, sizes) if m)
    found = []
    for version, name in commits:
        if version < start:
            continue
        if sizes[name] == 0:
            found.append((name, "is empty (0 bytes)"))
        elif read or sizes[name] < SMALL:
            with filesystem.open_input_stream(f"{LOG}/{name}") as stream:
                problem = _damage(stream.read())
            if problem:
                found.append((name, problem))
    return found


def _key(path: str, dv: Descriptor | None) -> tuple[str, str]:
    return unquote(path), dv.unique_id if dv else ""


def _apply(files: Files, action: dict[str, object]) -> None:
    """One JSON action on the replayed file set (``add``/``remove``; others do not change it)."""
    for kind in ("add", "remove"):
        body = action.get(kind)
        if isinstance(body, dict):
            raw = body.get("deletionVector")
            dv = Descriptor.from_action(raw) if isinstance(raw, dict) else None
            key = _key(str(body["path"]), dv)
            if kind == "add":
                files[key] = dv
            else:
                files.pop(key, None)


def _read_checkpoint(filesystem: pa_fs.FileSystem, names: list[str], files: Files) -> None:
    """The live files of a checkpoint's parts: the rows whose ``add.path`` is set."""
    for name in names:
        parquet = pq.ParquetFile(filesystem.open_input_file(f"{LOG}/{name}"))
        for batch in parquet.iter_batches(columns=["add.path", "add.deletionVector"]):
            if batch.schema.names != ["add"]:
                raise DeletionVectorError(f"checkpoint {name} has no add.path/add.deletionVector columns")
            for row in batch.column(0).to_pylist():
                if row and row.get("path") is not None:  # other rows: remove, metaData, protocol, txn
                    raw = row["deletionVector"]
                    dv = Descriptor.from_action(raw) if raw else None
                    files[_key(str(row["path"]), dv)] = dv


def deletion_vectors(filesystem: pa_fs.FileSystem, version: int) -> dict[str, Descriptor | None]:
    """Each live data file of ``version`` (path as delta-rs's dataset names it) and its DV or None.

    ``filesystem`` is rooted at the table folder. Raises :class:`DeletionVectorError` when a
    commit the replay needs is missing or a file appears twice (two live DVs for one file).
    """
    names = [info.base_name for info in filesystem.get_file_info(pa_fs.FileSelector(LOG))]
    files: Files = {}
    checkpoint = _checkpoint(names, version)
    start = 0
    if checkpoint is not None:
        _read_checkpoint(filesystem, checkpoint[1], files)
        start = checkpoint[0] + 1
    commits = {int(m.group(1)) for m in map(_COMMIT.fullmatch, names) if m}
    missing = [v for v in range(start, version + 1) if v not in commits]
    if missing:
        raise DeletionVectorError(
            f"the Delta log lacks commit(s) {missing[:5]} needed to replay version {version}"
        )
    for v in range(start, version + 1):
        with filesystem.open_input_stream(f"{LOG}/{v:020d}.json") as stream:
            text = stream.read().decode("utf-8")
        for line in text.splitlines():
            if line.strip():
                _apply(files, json.loads(line))
    by_path: dict[str, Descriptor | None] = {}
    for (path, _), dv in files.items():
        if path in by_path:
            raise DeletionVectorError(f"the Delta log replay finds two live deletion vectors for {path}")
        by_path[path] = dv
    return by_path
