"""The kill-matrix projects' fixed names, file readers and checks (both engines' run-protocol tests).

What a consumer would see, checked against the source table: which ids are in which published file,
triggers and manifests beside them, staging, log rows and the stored watermark. Files are read back
with the csv module; :mod:`kill_support` builds the projects and runs the children.
"""

from __future__ import annotations

import collections
import csv
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kill_support import KillProject

GROUP = "kill"
RUN_DATE = "2025-06-01"
DAY = RUN_DATE.replace("-", "")
SOURCE = ("lh_src", "dbo", "items")
TARGET_LAKEHOUSE = "lh_out"
CONFIG_LAKEHOUSE = "lh_config"
STAGING = "_fabgen_staging"
#: the source rows the full export sees over a kill-matrix case (baseline, killed run, next run)
SNAPSHOTS = [list(range(1, 11)), list(range(1, 21)), list(range(1, 31))]
MANIFESTS = "_fabgen_manifests"


# --------------------------------------------------------------------------- readers


def csv_ids(path: Path) -> list[int]:
    """The ``id`` column of one csv file, read with the csv module."""
    with path.open(newline="") as handle:
        return [int(row["id"]) for row in csv.DictReader(handle)]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot_files(project: KillProject, export: str, trigger: str) -> dict[str, list[int]]:
    """The data files of the split export that belong to ``trigger`` (same stem)."""
    stem = trigger.removesuffix(".done")
    return {n: ids for n, ids in project.data_files(export).items() if n.startswith(stem)}


# --------------------------------------------------------------------------- checks


def duplicates(files: dict[str, list[int]]) -> dict[int, int]:
    """Ids found more than once across ``files`` (id -> count)."""
    counts = collections.Counter(i for ids in files.values() for i in ids)
    return {i: n for i, n in sorted(counts.items()) if n > 1}


def check_incremental(project: KillProject, export: str, expected: list[int], when: str) -> None:
    """Every source id in exactly one published file; every file with its trigger; the watermark."""
    files = project.data_files(export)
    dup = duplicates(files)
    assert not dup, f"{when}: {export}: ids in two published files (id: count): {dup}; files {sorted(files)}"
    got = sorted(i for ids in files.values() for i in ids)
    lost = sorted(set(expected) - set(got))
    assert not lost, f"{when}: {export}: {len(lost)} source row(s) lost: ids {lost}"
    extra = sorted(set(got) - set(expected))
    assert not extra, f"{when}: {export}: ids not in the source: {extra}"
    check_inc_triggers(project, export, when, complete=True)
    stored = project.stored_watermark(export)
    assert stored == str(max(expected)), (
        f"{when}: {export}: stored watermark {stored!r}, max exported id {max(expected)}"
    )


def check_inc_triggers(project: KillProject, export: str, when: str, complete: bool) -> None:
    """A trigger ⇒ its data file; with ``complete``, also every data file ⇒ its trigger."""
    data = {n.removesuffix(".csv") for n in project.data_files(export)}
    triggers = {n.removesuffix(".done") for n in project.triggers(export)}
    orphans = sorted(triggers - data)
    assert not orphans, f"{when}: {export}: trigger(s) without their data file: {orphans}"
    if complete:
        untriggered = sorted(data - triggers)
        assert not untriggered, (
            f"{when}: {export}: data file(s) with no trigger (partial publish): {untriggered}"
        )
    check_manifests(project, export, when)


def check_full(
    project: KillProject, export: str, snapshots: list[list[int]], when: str, expected: list[int] | None
) -> None:
    """The split export's trigger ⇒ its files hold exactly one source snapshot, each row once.

    ``snapshots`` are the id lists the source held at some run; ``expected`` (when given) is the
    snapshot the published set must hold now, with its trigger present.
    """
    trigger = f"{export}_{DAY}.done"
    triggers = project.triggers(export)
    files = snapshot_files(project, export, trigger)
    ids = sorted(i for part in files.values() for i in part)
    if expected is not None:
        assert trigger in triggers, f"{when}: {export}: no trigger {trigger} (files {sorted(files)})"
        dup = duplicates(files)
        assert not dup, f"{when}: {export}: ids in two published files: {dup}"
        lost = sorted(set(expected) - set(ids))
        assert not lost, f"{when}: {export}: {len(lost)} row(s) lost: ids {lost}; files {sorted(files)}"
        assert ids == expected, f"{when}: {export}: published ids {ids} != source {expected}"
    if trigger in triggers:
        assert ids in snapshots, (
            f"{when}: {export}: the trigger {trigger} is visible beside a partial or mixed file set: "
            f"{ {n: (min(v), max(v), len(v)) if v else () for n, v in files.items()} }"
        )
    check_manifests(project, export, when)


def current_manifest(project: KillProject, export: str, name: str, when: str) -> dict[str, Any]:
    """The manifest of the run whose bytes are at ``name`` now, found as a consumer finds it.

    The file's owner record, ``Files/_fabgen_manifests/<target_path>/_files/<name>.json``, names the
    manifest (``manifest_path``, relative to ``Files/``); no clock decides, so two publishes in one
    second (a full export re-publishing the same names) cannot make it ambiguous.
    """
    record_path = project.files_dir(f"{MANIFESTS}/{GROUP}/{export}/_files/{name}.json")
    assert record_path.is_file(), f"{when}: {export}: {name} is visible but has no owner record {record_path}"
    record = json.loads(record_path.read_text())
    relative = record.get("manifest_path")
    assert relative, f"{when}: {export}: the owner record of {name} names no manifest: {record}"
    path = project.files_dir(str(relative))
    assert path.is_file(), f"{when}: {export}: {name}'s owner record names {relative}, which does not exist"
    manifest: dict[str, Any] = {"path": str(path), **json.loads(path.read_text())}
    assert manifest["export_run_id"] == record["export_run_id"], (
        f"{when}: {export}: {name}'s owner record says run {record['export_run_id']}, its manifest "
        f"{relative} run {manifest['export_run_id']}"
    )
    return manifest


def check_manifests(project: KillProject, export: str, when: str) -> None:
    """Each visible trigger ⇒ its current manifest lists files that are all there, size and SHA-256 equal.

    The trigger's owner record names the manifest of the run that published it (see
    :func:`current_manifest`), and every file that manifest lists is owned by that same run.
    """
    for trigger in project.triggers(export):
        manifest = current_manifest(project, export, trigger, when)
        assert manifest.get("trigger") == f"{GROUP}/{export}/{trigger}", (
            f"{when}: {export}: {trigger}'s current manifest {manifest['path']} names trigger "
            f"{manifest.get('trigger')}"
        )
        names = set()
        for item in manifest["files"]:
            path = project.target(export) / Path(str(item["name"])).name
            names.add(path.name)
            assert path.exists(), f"{when}: {export}: manifest {manifest['path']} lists missing {path.name}"
            owner = current_manifest(project, export, path.name, when)
            assert owner["export_run_id"] == manifest["export_run_id"], (
                f"{when}: {path.name}: owned by run {owner['export_run_id']}, but {trigger}'s manifest "
                f"is run {manifest['export_run_id']}'s"
            )
            assert path.stat().st_size == item["size"], f"{when}: {path.name}: size differs from manifest"
            assert sha256(path) == item["sha256"], f"{when}: {path.name}: SHA-256 differs from manifest"
            assert len(csv_ids(path)) == item["rows"], f"{when}: {path.name}: rows differ from manifest"
        stem = trigger.removesuffix(".done")
        same_stem = {n for n in project.data_files(export) if n.startswith(stem)}
        assert same_stem == names, (
            f"{when}: {export}: files by {trigger}: {sorted(same_stem)} != manifest {sorted(names)}"
        )


def check_manifest_paths(project: KillProject, result: dict[str, Any], when: str) -> None:
    """Every export of a result dict that published files names its manifest, which exists."""
    for entry in result["results"]:
        if entry["status"] in ("success", "warning") and entry["files_created"]:
            relative = entry.get("manifest_path")
            assert relative, f"{when}: {entry['export_name']}: no manifest_path in the result entry"
            path = project.files_dir(relative.removeprefix("Files/"))
            assert path.is_file(), f"{when}: {entry['export_name']}: manifest {path} does not exist"


def check_clean(project: KillProject, when: str) -> None:
    """Staging empty and every log row final (no pending/running run left)."""
    left = project.staging_files()
    assert not left, f"{when}: staging not empty: {left[:10]}"
    open_rows = [
        (r["export_name"], r["export_run_id"], r["export_state"])
        for r in project.log_rows()
        if r["export_state"] in ("pending", "running")
    ]
    assert not open_rows, f"{when}: log rows not final: {open_rows}"


def check_after_kill(project: KillProject, when: str) -> None:
    """What a consumer may see right after the kill: no trigger beside a partial set."""
    check_inc_triggers(project, "inc", when, complete=False)
    inc_files = project.data_files("inc")
    seen = sorted(i for ids in inc_files.values() for i in ids)
    assert len(seen) == len(set(seen)), f"{when}: inc: ids in two files: {inc_files}"
    check_full(project, "full", SNAPSHOTS, when, expected=None)


def check_settled(project: KillProject, source: list[int], when: str) -> None:
    """After a retry or a normal run: everything published exactly once, bookkeeping final."""
    check_incremental(project, "inc", source, when)
    check_full(project, "full", SNAPSHOTS, when, expected=source)
    check_clean(project, when)


def summary(result: dict[str, Any]) -> str:
    """One line per export of a result dict, for assertion messages."""
    return "; ".join(
        f"{r['export_name']}={r['status']} rows={r['rows_exported']} err={r.get('error')}"
        for r in result.get("results", [])
    )
