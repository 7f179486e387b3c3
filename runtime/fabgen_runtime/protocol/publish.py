"""Publish a journal's file set, and recover an interrupted publish (roll forward or back).

:func:`publish` runs the steps in this order, each one a rename or a small file, so a kill
between any two leaves a state :func:`recover` can finish:

1. write the journal, phase ``intent`` (failpoint ``after_journal``);
2. move every file it replaces aside into staging, the old trigger first (``after_aside``);
3. rename each staged file into place (``after_rename_<n>``);
4. write the manifest and the owner records;
5. create the trigger file, last (``after_trigger``);
6. rewrite the journal, phase ``published``.

:func:`recover` of a journal in phase ``intent``: when every file is still staged or already in
place, it rolls forward (steps 2-6); otherwise it rolls back (new files out, replaced files
and the old trigger restored). A ``published`` journal needs only its bookkeeping (log row,
watermark), which the caller completes before :func:`finish` removes the staging folder.
Recovery never overwrites: a move whose destination is taken is a problem (forward: an
``OSError``; back: listed in :attr:`Recovery.problems`), and the caller then keeps the staging,
which may hold the replaced files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ..errors import PublishError, RecoveryFailed
from .journal import MARKER, PUBLISHED, Journal, JournalFile, mark_planned_moves, write_journal
from .owners import restore_owners, write_manifest
from .store import FileStore, join

log = logging.getLogger(__name__)
Failpoint = Callable[[str], None]
STAGING_FOLDER = "_fabgen_staging"


def _no_failpoint(_point: str) -> None:
    return None


def publish(
    store: FileStore, journal: Journal, files_root: str, failpoint: Failpoint = _no_failpoint
) -> Journal:
    """Publish the journal's file set; returns the journal in phase ``published``.

    On an error it rolls back what it changed and raises :class:`PublishError`, or
    :class:`RecoveryFailed` when the rollback is incomplete (then the journal and staging must be
    kept: they may hold the files it replaced).
    """
    write_journal(store, journal)
    failpoint("after_journal")
    try:
        if journal.files:
            mark_planned_moves(store, journal)  # a lost journal cannot make a partial set look unpublished
            store.mkdirs(journal.target)
            for replaced in journal.replaced:
                store.rename(replaced.destination, replaced.aside)
            if journal.replaced:
                failpoint("after_aside")
            for number, f in enumerate(journal.files, start=1):
                store.rename(f.staged, f.destination)
                failpoint(f"after_rename_{number}")
            write_manifest(store, journal, files_root, _now())
            if journal.trigger:
                store.write_bytes(journal.trigger, b"", overwrite=False)
                failpoint("after_trigger")
        done = replace(journal, phase=PUBLISHED)
        write_journal(store, done)
        return done
    except OSError as exc:
        problems = _roll_back(store, journal, files_root)
        message = f"publishing failed: {exc}"
        if problems:  # the staging may hold files it replaced: the caller must keep it
            message += "; rollback incomplete: " + "; ".join(problems)
            raise RecoveryFailed(message, journal.export) from exc
        raise PublishError(message, journal.export) from exc


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover` did with one journal: ``forward``, ``back`` or ``published`` (nothing to move)."""

    action: str
    journal: Journal
    problems: tuple[str, ...] = ()


def _placed(store: FileStore, journal: Journal, f: JournalFile) -> bool:
    """True when ``f`` is at its destination (not the earlier file it replaces)."""
    if not store.exists(f.destination) or store.size(f.destination) != f.size:
        return False
    for r in journal.replaced:
        if r.destination == f.destination:
            return store.exists(r.aside)
    return True


def can_roll_forward(store: FileStore, journal: Journal) -> bool:
    """True when every file of the set is staged or already in place (pure decision over the store)."""
    return all(store.exists(f.staged) or _placed(store, journal, f) for f in journal.files)


def recover(store: FileStore, journal: Journal, files_root: str) -> Recovery:
    """Finish (roll forward) or undo (roll back) an interrupted publish; see the module docstring."""
    if journal.phase == PUBLISHED:
        return Recovery("published", journal)
    if not can_roll_forward(store, journal):
        problems = _roll_back(store, journal, files_root)
        log.warning("%s: run %s rolled back (staged files missing)", journal.export, journal.export_run_id)
        return Recovery("back", journal, tuple(problems))
    if journal.files:
        store.mkdirs(journal.target)
        new_names = {f.destination for f in journal.files if store.exists(f.staged)}
        for r in journal.replaced:
            if store.exists(r.aside) or not store.exists(r.destination):
                continue
            if r.destination == journal.trigger or r.destination in new_names:
                store.rename(r.destination, r.aside)
        for f in journal.files:
            if store.exists(f.staged):
                store.rename(f.staged, f.destination)
        write_manifest(store, journal, files_root, _now())
        if journal.trigger and not store.exists(journal.trigger):
            store.write_bytes(journal.trigger, b"", overwrite=False)
    done = replace(journal, phase=PUBLISHED)
    write_journal(store, done)
    log.info("%s: run %s rolled forward (publish finished)", journal.export, journal.export_run_id)
    return Recovery("forward", done)


def _roll_back(store: FileStore, journal: Journal, files_root: str) -> list[str]:
    """Move new files back into staging, restore replaced files and the old trigger."""
    problems: list[str] = []
    replaced_dests = {r.destination for r in journal.replaced}
    for f in reversed(journal.files):
        try:
            if not store.exists(f.staged) and _placed(store, journal, f):
                store.rename(f.destination, f.staged)
        except OSError as exc:
            problems.append(f"could not move {f.destination} back: {exc}")
    try:
        trigger = journal.trigger
        ours = trigger and (
            trigger not in replaced_dests
            or any(r.destination == trigger and store.exists(r.aside) for r in journal.replaced)
        )
        if trigger and ours and store.exists(trigger):
            store.delete(trigger)
        if journal.manifest and store.exists(journal.manifest):
            store.delete(journal.manifest)
    except OSError as exc:
        problems.append(f"could not remove the trigger or manifest: {exc}")
    for r in reversed(journal.replaced):
        try:
            if not store.exists(r.aside):
                continue
            if store.exists(r.destination):  # never overwrite: someone else's file is in the way
                problems.append(f"cannot restore {r.destination}: a file is in its place ({r.aside} kept)")
                continue
            store.rename(r.aside, r.destination)
        except OSError as exc:
            problems.append(f"could not restore {r.destination}: {exc}")
    try:
        restore_owners(store, journal, files_root)
    except OSError as exc:
        problems.append(f"could not restore owner records: {exc}")
    return problems


def finish(store: FileStore, staging: str) -> None:
    """Remove a run's staging folder (and the staging root when it is left empty).

    ``run.json`` goes first: a folder left by a kill part-way is then one without a marker (or with a
    published journal, whose bookkeeping recovery repeats), never a marker whose files left staging
    and no journal, which recovery would refuse as a possibly partial publish.
    """
    store.delete(join(staging, MARKER))
    store.delete(staging, recursive=True)
    parent = staging.rstrip("/").rsplit("/", 1)[0]
    if parent.endswith(STAGING_FOLDER) and not store.list(parent):
        try:  # other runs may be staging next to us: only an empty folder is removed
            store.delete(parent, recursive=False)
        except OSError:
            log.debug("staging folder %s not removed (in use)", parent)


def _now() -> str:
    """The publish time recorded in manifests: UTC, microseconds (two publishes may share a second)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")
