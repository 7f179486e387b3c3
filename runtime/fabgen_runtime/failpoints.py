"""Named points in a run where a test can kill the process for real (SIGKILL), to prove crash safety.

Set ``FABGEN_KILL_AT`` to a point's name (``after_staging``), optionally followed by ``@`` and an
export name (``after_rename_1@daily_orders``), and the process kills itself with ``SIGKILL`` the
first time it reaches that point: no ``finally`` block, no ``atexit`` handler and no JVM shutdown
hook runs, exactly as when the operating system or Fabric ends a driver. Unset (always, outside
tests), :func:`reached` is a dictionary lookup and nothing else.

The points, in the order one export passes them (see ``docs/running.md``):

=====================  ==========================================================================
``after_read``         the source is resolved (version pinned), nothing written yet
``after_staging``      every output file is complete in staging, no journal yet
``after_journal``      the publish intent (journal) is durable; nothing in the target changed
``after_aside``        an earlier file of the same name was moved aside (only when one exists)
``after_rename_<n>``   the n-th data file (from 1) was renamed into the target directory
``after_trigger``      the trigger file exists: the file set is published
``after_success_log``  the run's final log row is committed
``before_watermark``   just before the watermark is stored
``after_watermark``    the watermark is stored; journal and staging not yet removed
=====================  ==========================================================================
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

ENV = "FABGEN_KILL_AT"


def reached(point: str, export_name: str | None = None) -> None:
    """Kill this process with SIGKILL if ``FABGEN_KILL_AT`` names ``point`` (and ``export_name``)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    name, _, export = wanted.partition("@")
    if name != point or (export and export != export_name):
        return
    log.warning("failpoint %s reached (%s): killing process %d", point, export_name or "-", os.getpid())
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.kill(os.getpid(), signal.SIGKILL)
