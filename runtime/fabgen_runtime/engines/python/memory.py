"""The Arrow memory pool of the Python engine's reads and parquet encoding: freed pages kept for reuse.

Reading a table batch by batch and encoding it row group by row group allocate and free buffers
of the same sizes over and over. pyarrow's pools give freed memory back to the operating system
at once (Arrow configures its jemalloc with a decay of 0 ms; mimalloc purges after a few ms), so
the next allocation faults the pages in again and the kernel zeroes every one of them, on
transparent huge pages 2 MiB at a time. On a 5M-row parquet export that was 1.5-2.5 s of system
CPU (``clear_page`` in ``perf``), more than the encoding's snappy, and it grew with the machine's
load (the slower the consumer, the more freed pages are purged before they are reused).

:func:`pool` is Arrow's jemalloc pool with a decay of :data:`DECAY_MS` (jemalloc's own default:
freed pages are reused while an export runs), where pyarrow has jemalloc; else pyarrow's default
pool, which is also used when ``ARROW_DEFAULT_MEMORY_POOL`` chooses one (e.g. ``system`` for a
process under ``RLIMIT_AS``, where jemalloc's up-front address-space reservations can fail). A
write holds the pool with :func:`in_use`; :data:`RELEASE_AFTER_S` seconds after the last write in
the process has finished, the pool's free pages go back to the operating system (:func:`release`):
back-to-back exports (a group, a benchmark) reuse the pages, and nothing stays held once the engine
is idle. (Releasing after every file cost 0.4-0.5 s of system CPU per 5M-row export on the
benchmark machine: the next export faults all of its pages in again.) The decay is set before this
pool's first allocation (jemalloc applies it to arenas created afterwards); when the process's
default pool is jemalloc and already in use, the arenas it made keep their decay.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Iterator

import pyarrow as pa

log = logging.getLogger(__name__)

DECAY_MS = 10_000  # jemalloc's default dirty/muzzy decay (Arrow's build sets 0)
RELEASE_AFTER_S = 10.0  # free pages go back this long after the last write has finished

_lock = threading.Lock()
_writes = 0  # writes holding the pool
_pending: threading.Timer | None = None  # the release after the last write


@functools.cache
def pool() -> pa.MemoryPool:
    """The engine's memory pool: jemalloc with a :data:`DECAY_MS` decay, else pyarrow's default pool
    (also when ``ARROW_DEFAULT_MEMORY_POOL`` names the pool the process wants)."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        log.debug("ARROW_DEFAULT_MEMORY_POOL is set: the engine uses that pool")
        return pa.default_memory_pool()
    if "jemalloc" not in pa.supported_memory_backends():
        log.debug("pyarrow has no jemalloc: the default memory pool (freed pages go back at once)")
        return pa.default_memory_pool()
    pa.jemalloc_set_decay_ms(DECAY_MS)
    return pa.jemalloc_memory_pool()


def release() -> None:
    """Return the pool's unused pages to the operating system."""
    pool().release_unused()


@contextlib.contextmanager
def in_use() -> Iterator[pa.MemoryPool]:
    """The pool, held by one write: when the last write of the process ends, its free pages are
    released :data:`RELEASE_AFTER_S` seconds later unless another write has started by then."""
    global _writes, _pending
    with _lock:
        _writes += 1
        if _pending is not None:
            _pending.cancel()
            _pending = None
    try:
        yield pool()
    finally:
        with _lock:
            _writes -= 1
            if _writes == 0:
                _pending = threading.Timer(RELEASE_AFTER_S, _release_when_idle)
                _pending.daemon = True
                _pending.name = "fabgen-memory-release"
                _pending.start()


def _release_when_idle() -> None:
    global _pending
    with _lock:
        if _writes or _pending is None or _pending is not threading.current_thread():
            return  # a write started meanwhile (its end schedules the next release)
        _pending = None
        release()
