"""Delta commits that never lose updates: conflict retry with backoff, per-table locks, batching.

Within one process a lock per table serialises commits; Delta's optimistic-concurrency conflicts
(another process or notebook committing at the same time) are retried with exponential backoff
and jitter. :class:`MergeQueue` batches upserts so parallel exports share one MERGE.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

_CONFLICTS = (
    "ConcurrentAppend",
    "ConcurrentDelete",
    "ConcurrentModification",
    "ConcurrentTransaction",
    "ConcurrentWrite",
    "MetadataChanged",
    "ProtocolChanged",
    "DELTA_CONCURRENT",
    "DELTA_METADATA_CHANGED",
    "DELTA_PROTOCOL_CHANGED",
    "FileAlreadyExistsException",
)
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def is_conflict(exc: BaseException) -> bool:
    """True for Delta's optimistic-concurrency conflicts (worth retrying)."""
    text = f"{type(exc).__name__} {exc}"
    return any(marker in text for marker in _CONFLICTS)


def retry_conflicts(
    action: Callable[[], T],
    what: str,
    attempts: int = 8,
    base: float = 0.2,
    conflict: Callable[[BaseException], bool] = is_conflict,
) -> T:
    """Run ``action``; on a Delta conflict wait (exponential backoff with jitter) and run it again.

    ``conflict`` tells a conflict from other failures (Spark's by default; delta-rs passes its own).
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if not conflict(exc) or attempt == attempts:
                raise
            delay = min(5.0, base * 2 ** (attempt - 1)) * (0.5 + random.random())
            log.info("%s: concurrent Delta commit, retrying in %.2fs (attempt %d)", what, delay, attempt)
            time.sleep(delay)
    raise AssertionError("unreachable")


class MergeQueue:
    """Batches row upserts: one writer thread at a time merges everything queued so far."""

    def __init__(self, merge: Callable[[list[tuple[Any, ...]]], None]):
        self._merge = merge
        self._lock = threading.Lock()
        self._queued: list[tuple[str | None, tuple[Any, ...] | None, Future[None]]] = []
        self._writing = False

    def submit(self, key: str | None, row: tuple[Any, ...] | None) -> Future[None]:
        """Queue ``row`` (``None``: a marker that completes once everything before it is written)."""
        future: Future[None] = Future()
        with self._lock:
            self._queued.append((key, row, future))
            if self._writing:
                return future
            self._writing = True
        threading.Thread(target=self._drain, name="fabgen-log-writer", daemon=True).start()
        return future

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._queued = self._queued, []
                if not batch:
                    self._writing = False
                    return
            latest: dict[str, tuple[Any, ...]] = {}
            for key, row, _future in batch:
                if key is not None and row is not None:
                    latest[key] = row
            try:
                if latest:
                    self._merge(list(latest.values()))
            except BaseException as exc:
                for *_rest, future in batch:
                    future.set_exception(exc)
            else:
                for *_rest, future in batch:
                    future.set_result(None)


def table_lock(path: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


EXPORT_KEY_MATCH = "t.export_group_name = s.export_group_name AND t.export_name = s.export_name"
