"""The publish journal (durable intent) and the run marker, both small JSON files in staging.

``<staging>/run.json`` is written before anything else of a run: which export and run the
staging folder belongs to, and the process that owns it (host, pid). ``<staging>/journal.json``
is written once every output file is complete in staging and before anything in the target
directory changes: every file (staged uri, destination, size, SHA-256, rows), what it replaces
(moved aside into staging), the trigger, the watermarks, and the log row needed to finish the
bookkeeping. Its ``phase`` is ``intent`` until the file set, manifest and trigger are in place,
then ``published``.

Writes are atomic: ``journal.json.tmp`` is written in full, then renamed over. A rewrite deletes
the old journal before the rename; a reader that finds no ``journal.json`` but a complete
``journal.json.tmp`` uses it (a crash between the two steps).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from .store import FileStore, join

VERSION = 1
JOURNAL = "journal.json"
MARKER = "run.json"
INTENT, PUBLISHED = "intent", "published"


@dataclass(frozen=True)
class JournalFile:
    """One data file of the set: where it waits and where it goes."""

    name: str
    staged: str
    destination: str
    size: int
    sha256: str | None
    rows: int


@dataclass(frozen=True)
class ReplacedFile:
    """An earlier file at a destination, moved aside into staging during the publish."""

    destination: str
    aside: str
    size: int
    owner_run_id: str | None = None
    owner: dict[str, Any] | None = None  # its owner record, restored on rollback


@dataclass
class Journal:
    """What one export run is about to publish, and how to finish its bookkeeping."""

    export: str  # group/name
    export_run_id: str
    execution_id: str
    run_date: str
    workspace: str
    lakehouse: str
    directory: str  # relative to Files/
    target: str  # uri of the target directory
    staging: str  # uri of the staging directory
    files: list[JournalFile]
    trigger: str | None  # uri of the trigger file
    replaced: list[ReplacedFile] = field(default_factory=list)
    rows: int = 0
    new_watermark: str | None = None
    start_watermark: str | None = None
    incremental_column: str | None = None
    watermark_type: str | None = None
    schema: str | None = None
    exported_schema: str | None = None  # compact JSON columns (schema_drift.describe), stored at bookkeeping
    manifest: str | None = None  # uri of the manifest
    manifest_path: str | None = None  # the manifest relative to Files/
    kept: list[str] = field(default_factory=list)  # destinations kept (0-row run, earlier file has rows)
    log_row: dict[str, Any] = field(default_factory=dict)
    phase: str = INTENT
    version: int = VERSION

    @property
    def uri(self) -> str:
        """Where the journal lives."""
        return join(self.staging, JOURNAL)

    def to_json(self) -> bytes:
        """The journal as UTF-8 JSON (dates tagged so they read back as dates)."""
        return json.dumps(asdict(self), default=_encode, sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Journal:
        """Parse a journal written by :meth:`to_json`."""
        raw = json.loads(data.decode(), object_hook=_decode)
        if raw.get("version") != VERSION:
            raise ValueError(f"unsupported journal version {raw.get('version')!r}")
        raw["files"] = [JournalFile(**f) for f in raw["files"]]
        raw["replaced"] = [ReplacedFile(**r) for r in raw.get("replaced", [])]
        return cls(**raw)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _decode(value: dict[str, Any]) -> Any:
    if len(value) == 1 and "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if len(value) == 1 and "$date" in value:
        return date.fromisoformat(value["$date"])
    return value


def write_journal(store: FileStore, journal: Journal) -> None:
    """Write (or rewrite) the journal atomically: ``journal.json.tmp``, then rename."""
    tmp = journal.uri + ".tmp"
    store.write_bytes(tmp, journal.to_json(), overwrite=True)
    if store.exists(journal.uri):
        store.delete(journal.uri)
    store.rename(tmp, journal.uri)


def read_journal(store: FileStore, staging: str) -> Journal | None:
    """The journal of a staging folder, or None (none written, or an incomplete first write)."""
    uri = join(staging, JOURNAL)
    for candidate in (uri, uri + ".tmp"):
        if not store.exists(candidate):
            continue
        try:
            return Journal.from_json(store.read_bytes(candidate))
        except (ValueError, KeyError, TypeError):
            if candidate == uri:
                raise
            return None  # a .tmp cut short by a crash: the intent was never durable
    return None


@dataclass(frozen=True)
class RunMarker:
    """Who a staging folder belongs to (``run.json``)."""

    export: str
    export_run_id: str
    execution_id: str
    host: str
    pid: int
    lease_owner: str | None = None
    #: ``[staged uri, destination]`` of every data file, written once the journal is durable and
    #: before the first rename: without its journal, a run none of whose files left staging was
    #: never published, and any other is not taken as unpublished (see :func:`moved_files`)
    files: list[list[str]] | None = None
    #: ``[destination, aside uri]`` of every earlier file the publish moves aside into staging
    replaced: list[list[str]] | None = None

    def moved_files(self, store: FileStore) -> list[str]:
        """What the publish already moved: the destinations of data files that left staging, and
        of earlier files now set aside in staging (empty: the target was never touched)."""
        gone = [dest for staged, dest in self.files or [] if not store.exists(staged)]
        return gone + [dest for dest, aside in self.replaced or [] if store.exists(aside)]

    def to_json(self) -> bytes:
        """The marker as JSON."""
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> RunMarker:
        """Parse a marker."""
        return cls(**json.loads(data.decode()))


def this_host() -> str:
    """The host name leases and markers record."""
    return socket.gethostname()


def write_marker(
    store: FileStore,
    staging: str,
    export: str,
    export_run_id: str,
    execution_id: str,
    lease_owner: str | None = None,
) -> RunMarker:
    """Create the staging folder with its ``run.json`` (the first thing a run writes)."""
    marker = RunMarker(export, export_run_id, execution_id, this_host(), os.getpid(), lease_owner)
    store.mkdirs(staging)
    store.write_bytes(join(staging, MARKER), marker.to_json(), overwrite=True)
    return marker


def mark_planned_moves(store: FileStore, journal: Journal) -> None:
    """Rewrite the run's ``run.json`` with the moves its publish is about to make (after the journal)."""
    marker = RunMarker(
        journal.export,
        journal.export_run_id,
        journal.execution_id,
        this_host(),
        os.getpid(),
        files=[[f.staged, f.destination] for f in journal.files],
        replaced=[[r.destination, r.aside] for r in journal.replaced],
    )
    store.write_bytes(join(journal.staging, MARKER), marker.to_json(), overwrite=True)


def read_marker(store: FileStore, staging: str) -> RunMarker | None:
    """The ``run.json`` of a staging folder, or None."""
    uri = join(staging, MARKER)
    if not store.exists(uri):
        return None
    try:
        return RunMarker.from_json(store.read_bytes(uri))
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class StagingEntry:
    """One run's folder under ``Files/_fabgen_staging``."""

    uri: str
    name: str
    journal: Journal | None
    marker: RunMarker | None
    problem: str | None = None  # its journal could not be read (the folder is then left as it is)

    @property
    def export(self) -> str | None:
        """The export the folder belongs to, when known."""
        if self.journal is not None:
            return self.journal.export
        return self.marker.export if self.marker is not None else None


def list_staging(store: FileStore, staging_root: str) -> list[StagingEntry]:
    """Every run folder under a lakehouse's staging root, with its journal and marker; a journal
    that cannot be read is the entry's ``problem`` (the other entries are still listed)."""
    out = []
    for status in store.list(staging_root):
        if not status.is_dir:
            continue
        journal, problem = None, None
        try:
            journal = read_journal(store, status.uri)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problem = f"cannot read its journal: {type(exc).__name__}: {exc}"
        out.append(StagingEntry(status.uri, status.name, journal, read_marker(store, status.uri), problem))
    return out
