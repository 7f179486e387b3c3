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


def manifests(folder: Path) -> list[dict[str, Any]]:
    """Every manifest-looking json file under ``folder`` (a dict with a ``files`` list)."""
    found = []
    if not folder.is_dir():
        return found
    for path in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("files"), list):
            found.append({"path": str(path), **data})
    return found


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


def check_manifests(project: KillProject, export: str, when: str) -> None:
    """Each visible trigger ⇒ a manifest of its run whose files are all there, size and SHA-256 equal.

    Manifests live in ``Files/_fabgen_manifests/<target_path>/<export_run_id>.json``; the newest
    one naming a trigger describes the set that trigger publishes (a full export re-publishes
    the same names).
    """
    folder = project.files_dir(f"{MANIFESTS}/{GROUP}/{export}")
    found = manifests(folder)
    for trigger in project.triggers(export):
        relative = f"{GROUP}/{export}/{trigger}"
        mine = [m for m in found if m.get("trigger") == relative]
        assert mine, f"{when}: {export}: trigger {trigger} is visible but no manifest in {folder} names it"
        manifest = max(mine, key=lambda m: str(m.get("published_at")))
        names = set()
        for item in manifest["files"]:
            path = project.target(export) / Path(str(item["name"])).name
            names.add(path.name)
            assert path.exists(), f"{when}: {export}: manifest {manifest['path']} lists missing {path.name}"
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
