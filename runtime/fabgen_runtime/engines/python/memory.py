"""The Arrow memory pool of the Python engine's reads and parquet encoding: freed pages kept for reuse.

Reading a table batch by batch and encoding it row group by row group allocate and free buffers
of the same sizes over and over. pyarrow's pools give freed memory back to the operating system
at once (Arrow configures its jemalloc with a decay of 0 ms; mimalloc purges after a few ms), so
the next allocation faults the pages in again and the kernel zeroes every one of them, on
transparent huge pages 2 MiB at a time. On a 5M-row parquet export that was 1.5-2.5 s of system
CPU (``clear_page`` in ``perf``), more than the encoding's snappy, and it grew with the machine's
load (the slower the consumer, the more freed pages are purged before they are reused).

:func:`pool` is Arrow's jemalloc pool with a decay of :data:`DECAY_MS` (jemalloc's own default:
freed pages are reused while the export runs), where pyarrow has jemalloc; else pyarrow's default
pool. :func:`release` hands the pool's free pages back when a file is finished, so nothing is kept
after an export. The decay is set before this pool's first allocation (jemalloc applies it to
arenas created afterwards); when the process's default pool is jemalloc and already in use, the
arenas it made keep their decay.
"""

from __future__ import annotations

import functools
import logging

import pyarrow as pa

log = logging.getLogger(__name__)

DECAY_MS = 10_000  # jemalloc's default dirty/muzzy decay (Arrow's build sets 0)


@functools.cache
def pool() -> pa.MemoryPool:
    """The engine's memory pool: jemalloc with a :data:`DECAY_MS` decay, else pyarrow's default pool."""
    if "jemalloc" not in pa.supported_memory_backends():
        log.debug("pyarrow has no jemalloc: the default memory pool (freed pages go back at once)")
        return pa.default_memory_pool()
    pa.jemalloc_set_decay_ms(DECAY_MS)
    return pa.jemalloc_memory_pool()


def release() -> None:
    """Return the pool's unused pages to the operating system (after a file is written)."""
    pool().release_unused()
