"""The self-test's Delta checks: the state tables' pinned protocol, and two writers racing for a version.

Engine-neutral: the engines hand over :class:`TableFacts` (Spark: ``fabgen_runtime.engines.spark.selftest``;
delta-rs: ``fabgen_runtime.engines.python.selftest``) and :class:`CommitWriter` objects. What
"pinned" means comes from :mod:`fabgen_runtime.state_protocol`, which the state-table creation code
of both engines uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from .. import state_protocol
from .model import Row, outcome

DELETION_VECTORS_PROPERTY = "delta.enableDeletionVectors"
_PROTOCOL_KEYS = ("delta.minReaderVersion", "delta.minWriterVersion")  # set the protocol, not stored


@dataclass(frozen=True)
class TableFacts:
    """A Delta table's protocol and table properties, as its log states them."""

    min_reader_version: int
    min_writer_version: int
    reader_features: tuple[str, ...] | None = None
    writer_features: tuple[str, ...] | None = None
    properties: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """``reader 1 / writer 2`` with its features, if any."""
        text = state_protocol.describe(self.min_reader_version, self.min_writer_version)
        features = sorted({*(self.reader_features or ()), *(self.writer_features or ())})
        return f"{text} ({', '.join(features)})" if features else text


def pinned_expectation(facts: TableFacts, pinned: Mapping[str, str] | None = None) -> list[str]:
    """How ``facts`` differs from what fabgen pins (empty: as pinned).

    Every state table: protocol :data:`~fabgen_runtime.state_protocol.PROTOCOL` with no table feature,
    ``delta.enableDeletionVectors`` ``false`` or absent. ``pinned``: the table properties the engine's
    creation code sets (a table this engine has just created must carry them).
    """
    problems = []
    if (facts.min_reader_version, facts.min_writer_version) != state_protocol.PROTOCOL:
        problems.append(f"{facts.describe()}, pinned {state_protocol.describe(*state_protocol.PROTOCOL)}")
    elif facts.reader_features or facts.writer_features:
        problems.append(f"table features {facts.describe()}")
    dv = facts.properties.get(DELETION_VECTORS_PROPERTY)
    if dv is not None and dv.strip().lower() != "false":
        problems.append(f"{DELETION_VECTORS_PROPERTY} is {dv!r}")
    for key, value in (pinned or {}).items():
        got = facts.properties.get(key)
        if (
            key not in _PROTOCOL_KEYS
            and key != DELETION_VECTORS_PROPERTY
            and (got or "").lower() != value.lower()
        ):
            problems.append(f"{key} is {got!r}, pinned {value!r}")
    return problems


def check_state_tables(
    created: Callable[[], TableFacts],
    pinned: Mapping[str, str],
    existing: Mapping[str, Callable[[], TableFacts | None]],
) -> Row:
    """``state_table_protocol``: ``created()`` makes a scratch state table with this engine's creation
    code and returns its facts; ``existing`` reads each state table of the config lakehouse (None:
    not created yet)."""
    problems, seen = [], []
    facts = created()
    found = pinned_expectation(facts, pinned)
    if found:
        problems.append(f"a state table made now: {'; '.join(found)}")
    seen.append(f"a state table made now: {facts.describe()}")
    for name, read in existing.items():
        table = read()
        if table is None:
            seen.append(f"{name}: not created yet (the first run creates it)")
            continue
        found = pinned_expectation(table)
        if found:
            features = sorted({*(table.reader_features or ()), *(table.writer_features or ())})
            problems.append(
                f"{name}: {'; '.join(found)}; fix: {state_protocol.REBUILD}"
                if features
                else f"{name}: {'; '.join(found)}"
            )
        seen.append(f"{name}: {table.describe()}")
    return outcome("state_table_protocol", not problems, "; ".join(problems or seen))


# --------------------------------------------------------------------------- commit race


class CommitWriter(Protocol):
    """One writer of the race table (a ``marker`` string column)."""

    name: str  # "spark" / "delta-rs 1.2.1"

    def pin(self) -> bool:
        """Hold the table's current snapshot for the next :meth:`append` (False: this writer cannot)."""
        ...

    def append(self, marker: str) -> int | None:
        """Commit one row ``marker`` (from the pinned snapshot, if any); the version it landed at."""
        ...

    def is_conflict(self, exc: BaseException) -> bool:
        """True when ``exc`` is this engine's concurrent-modification (commit conflict) error."""
        ...


@dataclass
class Attempt:
    """One writer's commit in the race: its marker, and the version it reported or its error."""

    writer: str
    marker: str
    version: int | None = None
    error: BaseException | None = None
    conflict: bool = False


def _commit(writer: CommitWriter, marker: str) -> Attempt:
    attempt = Attempt(writer.name, marker)
    try:
        attempt.version = writer.append(marker)
    except Exception as exc:  # judged below: a conflict error is an allowed outcome
        attempt.error, attempt.conflict = exc, writer.is_conflict(exc)
    return attempt


def _together(start: threading.Barrier, writer: CommitWriter, marker: str) -> Attempt:
    start.wait(timeout=120)
    return _commit(writer, marker)


def race(first: CommitWriter, second: CommitWriter, rounds: int) -> list[Attempt]:
    """The race: a stale round when ``second`` can pin a snapshot (``first`` commits, then ``second``
    from the version both read), then ``rounds`` rounds of both committing at once."""
    attempts = []
    if second.pin():
        attempts.append(_commit(first, "stale-first"))
        attempts.append(_commit(second, "stale-second"))
    for number in range(rounds):
        start = threading.Barrier(2)
        with ThreadPoolExecutor(2, thread_name_prefix="fabgen-selftest-commit") as pool:
            pair = [
                pool.submit(_together, start, w, f"round-{number}-{i}") for i, w in enumerate((first, second))
            ]
            attempts += [future.result() for future in pair]
    return attempts


def judge_race(
    attempts: Sequence[Attempt], markers: Mapping[str, int], versions: Mapping[str, int]
) -> list[str]:
    """What went wrong in a race (empty: the writers excluded each other).

    ``markers``: rows per marker in the table afterwards; ``versions``: the version the log records
    for each marker's commit (when the engine can tell)."""
    problems = []
    for attempt in attempts:
        rows = markers.get(attempt.marker, 0)
        if attempt.error is None and rows != 1:
            problems.append(
                f"{attempt.writer} reported {attempt.marker} committed (version {attempt.version}) "
                f"but the table holds {rows} such row(s)"
            )
        elif attempt.error is not None and not attempt.conflict:
            problems.append(f"{attempt.writer} failed with {type(attempt.error).__name__}: {attempt.error}")
        elif attempt.error is not None and rows:
            problems.append(
                f"{attempt.writer} reported a conflict for {attempt.marker} yet its row is in the table"
            )
    claimed: dict[int, list[str]] = {}
    for attempt in attempts:
        version = versions.get(attempt.marker, attempt.version)
        if attempt.error is None and version is not None:
            claimed.setdefault(version, []).append(attempt.marker)
    problems += [
        f"commits {', '.join(m)} all claim version {v}" for v, m in sorted(claimed.items()) if len(m) > 1
    ]
    return problems


def check_commit_race(
    first: CommitWriter,
    second: CommitWriter,
    read_markers: Callable[[], Mapping[str, int]],
    read_versions: Callable[[], Mapping[str, int]],
    rounds: int = 3,
) -> Row:
    """``delta_commit_race``: :func:`race`, then the table read back and :func:`judge_race`."""
    attempts = race(first, second, rounds)
    problems = judge_race(attempts, read_markers(), read_versions())
    conflicts = sum(1 for a in attempts if a.conflict)
    versions = read_versions()
    stale = [a for a in attempts if a.marker.startswith("stale-")]
    seen = [f"{first.name} and {second.name}"]
    if stale:
        first_v, second_v = (versions.get(a.marker, a.version) for a in stale)
        after = "a conflict error" if stale[1].conflict else f"version {second_v}"
        seen.append(f"{second.name} from a stale snapshot after {first.name}'s version {first_v}: {after}")
    committed = sum(1 for a in attempts if a.error is None)
    seen.append(
        f"{committed} of {len(attempts)} commits landed at distinct versions, "
        f"{conflicts} conflict error(s), no commit lost"
    )
    return outcome("delta_commit_race", not problems, "; ".join(problems or seen))
