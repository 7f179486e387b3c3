"""Delta commits that never lose updates: conflict retry with backoff, per-table locks.

Within one process a lock per table serialises commits; Delta's optimistic-concurrency conflicts
(another process or notebook committing at the same time) are retried with exponential backoff
and jitter.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

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


def table_lock(path: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


EXPORT_KEY_MATCH = "t.export_group_name = s.export_group_name AND t.export_name = s.export_name"
