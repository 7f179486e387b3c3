"""The run protocol over the local FileStore, on real temp files (no JVM)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fabgen_runtime.errors import PublishError, RecoveryFailed
from fabgen_runtime.protocol import lease, owners
from fabgen_runtime.protocol import publish as proto
from fabgen_runtime.protocol.journal import (
    INTENT,
    PUBLISHED,
    Journal,
    JournalFile,
    list_staging,
    read_journal,
    write_marker,
)
from fabgen_runtime.protocol.store import LocalFileStore

EXPORT = "sales/orders"


def _journal(root: Path, names: list[str], run: str = "run-2", trigger: bool = True) -> Journal:
    store = LocalFileStore()
    files_root = root / "Files"
    staging = files_root / "_fabgen_staging" / run
    write_marker(store, str(staging), EXPORT, run, "exec-1")
    files = []
    for name in names:
        staged = staging / "out" / name
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(f"id\n{name}\n")
        digest = hashlib.sha256(staged.read_bytes()).hexdigest()
        files.append(
            JournalFile(name, str(staged), str(files_root / "out" / name), staged.stat().st_size, digest, 1)
        )
    return Journal(
        export=EXPORT,
        export_run_id=run,
        execution_id="exec-1",
        run_date="2025-01-02",
        workspace="ws",
        lakehouse="lh",
        directory="out",
        target=str(files_root / "out"),
        staging=str(staging),
        files=files,
        trigger=str(files_root / "out" / "done.trg") if trigger else None,
        rows=len(names),
        manifest=str(files_root / owners.manifest_relpath("out", run)),
        manifest_path=owners.manifest_relpath("out", run),
        log_row={"run_date": date(2025, 1, 2), "started_at": datetime(2025, 1, 2, 3, 4, tzinfo=UTC)},
    )


def _resolve(root: Path, journal: Journal, extract: str = "full", rows: int = 1) -> Journal:
    replaced, kept = owners.resolve_destinations(
        LocalFileStore(),
        EXPORT,
        journal.export_run_id,
        extract,
        rows,
        [(f.name, f.destination) for f in journal.files],
        journal.trigger,
        str(root / "Files"),
        "out",
        f"{journal.staging}/replaced",
    )
    journal.replaced, journal.kept = replaced, kept
    journal.files = [f for f in journal.files if f.destination not in kept]
    return journal


def _published_first(root: Path, names: list[str]) -> Journal:
    first = _journal(root, names, run="run-1")
    done = proto.publish(LocalFileStore(), _resolve(root, first), str(root / "Files"))
    proto.finish(LocalFileStore(), first.staging)
    return done


def test_journal_round_trip_keeps_dates(tmp_path: Path) -> None:
    journal = _journal(tmp_path, ["a.csv"])
    back = Journal.from_json(journal.to_json())
    assert back == journal
    assert back.log_row["run_date"] == date(2025, 1, 2)


def test_publish_moves_files_writes_manifest_and_trigger_last(tmp_path: Path) -> None:
    journal = _journal(tmp_path, ["a.csv", "b.csv"])
    points: list[str] = []
    done = proto.publish(
        LocalFileStore(), _resolve(tmp_path, journal), str(tmp_path / "Files"), points.append
    )
    assert points == ["after_journal", "after_rename_1", "after_rename_2", "after_trigger"]
    assert done.phase == PUBLISHED and read_journal(LocalFileStore(), journal.staging).phase == PUBLISHED
    out = tmp_path / "Files" / "out"
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.csv", "done.trg"]
    manifest = json.loads((tmp_path / "Files" / done.manifest_path).read_text())
    assert [f["path"] for f in manifest["files"]] == ["out/a.csv", "out/b.csv"]
    assert manifest["files"][0]["size"] == (out / "a.csv").stat().st_size


def test_full_export_replaces_its_own_file_and_recovery_after_aside_rolls_forward(tmp_path: Path) -> None:
    _published_first(tmp_path, ["a.csv"])
    journal = _resolve(tmp_path, _journal(tmp_path, ["a.csv"]))
    assert [r.destination.rsplit("/", 1)[1] for r in journal.replaced] == ["done.trg", "a.csv"]
    store = LocalFileStore()

    class Killed(Exception):
        pass

    def kill(point: str) -> None:
        if point == "after_aside":
            raise Killed

    with pytest.raises(Killed):
        proto.publish(store, journal, str(tmp_path / "Files"), kill)
    out = tmp_path / "Files" / "out"
    assert not (out / "a.csv").exists()  # moved aside: only a recovery can put things right
    outcome = proto.recover(store, read_journal(store, journal.staging), str(tmp_path / "Files"))
    assert outcome.action == "forward"
    assert (out / "a.csv").read_text() == "id\na.csv\n" and (out / "done.trg").exists()


def test_recovery_rolls_back_and_restores_when_a_staged_file_vanished(tmp_path: Path) -> None:
    _published_first(tmp_path, ["a.csv", "b.csv"])
    before = {p.name: p.read_bytes() for p in (tmp_path / "Files" / "out").iterdir()}
    journal = _resolve(tmp_path, _journal(tmp_path, ["a.csv", "b.csv"]))
    store = LocalFileStore()

    class Killed(Exception):
        pass

    def kill(point: str) -> None:
        if point == "after_rename_1":
            raise Killed

    with pytest.raises(Killed):
        proto.publish(store, journal, str(tmp_path / "Files"), kill)
    Path(journal.files[1].staged).unlink()  # the second file is lost: cannot finish
    outcome = proto.recover(store, read_journal(store, journal.staging), str(tmp_path / "Files"))
    assert outcome.action == "back" and not outcome.problems
    after = {p.name: p.read_bytes() for p in (tmp_path / "Files" / "out").iterdir()}
    assert after == before
    owner = owners.read_owner(LocalFileStore(), owners.owner_uri(str(tmp_path / "Files"), "out", "a.csv"))
    assert owner is not None and owner.export_run_id == "run-1"  # the restored file is run-1's again


def _killed_after(point: str, root: Path, journal: Journal) -> None:
    class Killed(Exception):
        pass

    def kill(reached: str) -> None:
        if reached == point:
            raise Killed

    with pytest.raises(Killed):
        proto.publish(LocalFileStore(), journal, str(root / "Files"), kill)


def test_recovery_never_overwrites_a_file_that_took_a_replaced_files_place(tmp_path: Path) -> None:
    _published_first(tmp_path, ["a.csv"])
    out, store = tmp_path / "Files" / "out", LocalFileStore()
    journal = _resolve(tmp_path, _journal(tmp_path, ["a.csv"]))
    _killed_after("after_aside", tmp_path, journal)
    aside = next(r.aside for r in journal.replaced if r.destination.endswith("a.csv"))
    (out / "a.csv").write_text("someone else's\n")  # written while the run was dead

    with pytest.raises(OSError, match="exists"):  # forward: the new file cannot take its place
        proto.recover(store, read_journal(store, journal.staging), str(tmp_path / "Files"))
    Path(journal.files[0].staged).unlink()  # now only a rollback is possible: it cannot restore a.csv
    outcome = proto.recover(store, read_journal(store, journal.staging), str(tmp_path / "Files"))
    assert outcome.action == "back"
    assert any("cannot restore" in p and "a.csv" in p for p in outcome.problems), outcome.problems
    assert (out / "a.csv").read_text() == "someone else's\n"  # untouched
    assert Path(aside).read_text() == "id\na.csv\n"  # the published file is kept in staging


def test_a_failed_publish_whose_rollback_cannot_restore_raises_recovery_failed(tmp_path: Path) -> None:
    _published_first(tmp_path, ["a.csv", "b.csv"])
    out = tmp_path / "Files" / "out"
    journal = _resolve(tmp_path, _journal(tmp_path, ["a.csv", "b.csv"]))

    class Intruded(LocalFileStore):
        def rename(self, src: str, dst: str) -> None:
            if dst.endswith("b.csv") and "_fabgen_staging" in src and "/replaced" not in src:
                Path(dst).write_text("someone else's\n")  # takes b.csv's place, then the move fails
                raise OSError("injected: destination taken")
            super().rename(src, dst)

    with pytest.raises(RecoveryFailed, match=r"rollback incomplete.*cannot restore .*b\.csv"):
        proto.publish(Intruded(), journal, str(tmp_path / "Files"))
    assert (out / "a.csv").read_text() == "id\na.csv\n"  # run-1's a.csv restored
    assert (out / "b.csv").read_text() == "someone else's\n"
    aside = next(r.aside for r in journal.replaced if r.destination.endswith("b.csv"))
    assert Path(aside).read_text() == "id\nb.csv\n"  # run-1's b.csv is still in staging


def test_foreign_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    out = tmp_path / "Files" / "out"
    out.mkdir(parents=True)
    (out / "a.csv").write_text("not ours\n")
    with pytest.raises(PublishError, match="not this export's"):
        _resolve(tmp_path, _journal(tmp_path, ["a.csv"]))
    assert (out / "a.csv").read_text() == "not ours\n"


def test_a_file_changed_outside_fabgen_with_the_same_size_is_refused_and_left_untouched(
    tmp_path: Path,
) -> None:
    """The size alone does not tell an edited file from fabgen's: the owner record's SHA-256 does."""
    _published_first(tmp_path, ["a.csv"])
    out = tmp_path / "Files" / "out"
    edited = b"id\nA.CSV\n"
    assert len(edited) == (out / "a.csv").stat().st_size
    (out / "a.csv").write_bytes(edited)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    journal = _journal(tmp_path, ["a.csv"])
    with pytest.raises(
        PublishError,
        match=r"a\.csv was published by run run-1 with SHA-256 [0-9a-f]{64} "
        r"but now has [0-9a-f]{64}: changed outside fabgen",
    ) as refused:
        _resolve(tmp_path, journal)
    assert hashlib.sha256(edited).hexdigest() in str(refused.value)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the edited bytes stay
    assert not Path(journal.staging, "replaced").exists()  # nothing moved aside
    owner = owners.read_owner(LocalFileStore(), owners.owner_uri(str(tmp_path / "Files"), "out", "a.csv"))
    assert owner is not None and owner.export_run_id == "run-1"


def test_an_owner_record_without_sha256_is_checked_by_size_only(tmp_path: Path) -> None:
    """Trigger records (and records written before SHA-256 was recorded) carry no hash."""
    _published_first(tmp_path, ["a.csv"])
    uri = owners.owner_uri(str(tmp_path / "Files"), "out", "a.csv")
    record = json.loads(Path(uri).read_text())
    Path(uri).write_text(json.dumps({**record, "sha256": None}))
    (tmp_path / "Files" / "out" / "a.csv").write_bytes(b"id\nA.CSV\n")
    journal = _resolve(tmp_path, _journal(tmp_path, ["a.csv"]))
    assert [r.destination.rsplit("/", 1)[1] for r in journal.replaced] == ["done.trg", "a.csv"]


def test_incremental_refuses_to_replace_an_earlier_run_and_zero_rows_keep_it(tmp_path: Path) -> None:
    _published_first(tmp_path, ["a.csv"])
    with pytest.raises(PublishError, match=r"run-1.*run-2.*\{run_id\}"):
        _resolve(tmp_path, _journal(tmp_path, ["a.csv"]), extract="incremental", rows=5)
    kept = _resolve(tmp_path, _journal(tmp_path, ["a.csv"], run="run-3"), extract="full", rows=0)
    assert kept.files == [] and kept.kept and kept.replaced == []


def test_staging_listing_reads_markers_and_journals(tmp_path: Path) -> None:
    journal = _journal(tmp_path, ["a.csv"])
    entries = list_staging(LocalFileStore(), str(tmp_path / "Files" / "_fabgen_staging"))
    assert [(e.export, e.journal) for e in entries] == [(EXPORT, None)]
    proto.publish(LocalFileStore(), _resolve(tmp_path, journal), str(tmp_path / "Files"))
    (entry,) = list_staging(LocalFileStore(), str(tmp_path / "Files" / "_fabgen_staging"))
    assert entry.journal is not None and entry.journal.phase == PUBLISHED
    assert INTENT != PUBLISHED


def test_an_unreadable_journal_is_its_entrys_problem_and_the_others_are_listed(tmp_path: Path) -> None:
    good = _journal(tmp_path, ["a.csv"], run="run-good")
    proto.publish(LocalFileStore(), _resolve(tmp_path, good), str(tmp_path / "Files"))
    bad = _journal(tmp_path, ["b.csv"], run="run-bad")
    Path(bad.staging, "journal.json").write_text("{not json")
    entries = list_staging(LocalFileStore(), str(tmp_path / "Files" / "_fabgen_staging"))
    by_name = {e.name: e for e in entries}
    assert by_name["run-good"].journal is not None and by_name["run-good"].problem is None
    bad_entry = by_name["run-bad"]
    assert bad_entry.journal is None and "cannot read its journal" in (bad_entry.problem or "")
    assert by_name["run-bad"].export == EXPORT  # from its run.json: recovery blocks that export only
    assert Path(bad.staging, "journal.json").exists()


def test_lease_rules() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    held = lease.Lease("h:1:x", "r", "e", "other-host", 1, now + timedelta(seconds=60))
    assert not lease.is_free(held, "me", now, host="me-host")
    assert lease.is_free(held, "h:1:x", now, host="me-host")
    assert lease.is_free(held, "me", now + timedelta(seconds=61), host="me-host")
    local_dead = lease.Lease("h:2:y", "r", "e", "me-host", 2, now + timedelta(seconds=60))
    assert lease.is_free(local_dead, "me", now, host="me-host", alive=lambda pid: False)
    assert not lease.is_free(local_dead, "me", now, host="me-host", alive=lambda pid: True)
    assert "lease" in lease.refusal(EXPORT, held) and "run r (execution e)" in lease.refusal(EXPORT, held)
    assert lease.cas_allows({"watermark_value": "5", "updated_by_run_id": "x"}, "5", "me")
    assert not lease.cas_allows({"watermark_value": "7", "updated_by_run_id": "x"}, "5", "me")
    assert lease.cas_allows({"watermark_value": "9", "updated_by_run_id": "me"}, "5", "me")


def test_a_failed_trigger_rolls_back_files_and_owner_records(tmp_path: Path) -> None:
    _published_first(tmp_path, ["a.csv"])
    out = tmp_path / "Files" / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    journal = _resolve(tmp_path, _journal(tmp_path, ["a.csv"], trigger=False))
    journal.trigger = str(out / "other.trg")  # a new trigger name: creating it fails

    class FailingTrigger(LocalFileStore):
        def write_bytes(self, uri: str, data: bytes, overwrite: bool = False) -> None:
            if uri.endswith("other.trg"):
                raise OSError("injected: storage unavailable")
            super().write_bytes(uri, data, overwrite)

    with pytest.raises(PublishError, match="injected"):
        proto.publish(FailingTrigger(), journal, str(tmp_path / "Files"))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    owner = owners.read_owner(LocalFileStore(), owners.owner_uri(str(tmp_path / "Files"), "out", "a.csv"))
    assert owner is not None and owner.export_run_id == "run-1"
    assert not (tmp_path / "Files" / journal.manifest_path).exists()


def test_validate_warns_about_incremental_names_that_can_repeat() -> None:
    from config_rows import base
    from fabgen_runtime.configs import parse_configs

    daily, unique, full = parse_configs(
        [
            base(export_name="daily", extract_type="incremental", incremental_column="id",
                 target_filename_pattern="d_{run_date:%Y%m%d}.csv"),
            base(export_name="unique", extract_type="incremental", incremental_column="id",
                 target_filename_pattern="d_{run_date:%Y%m%d}_{run_id}.csv"),
            base(export_name="full", target_filename_pattern="f_{run_date:%Y%m%d}.csv"),
        ]
    )  # fmt: skip
    from fabgen_runtime.config_rules import warnings

    (warning,) = warnings(daily)
    assert warning.field == "target_filename_pattern"
    assert "{run_id}" in warning.message and "d_{run_date:%Y%m%d}.csv" in warning.message
    assert warnings(unique) == [] and warnings(full) == []
