"""Named points in a run where a test can kill the process for real (SIGKILL), to prove crash safety.

Set ``FABGEN_KILL_AT`` to a point's name (``after_staging``), optionally followed by ``@`` and an
export name (``after_rename_1@daily_orders``), and the process kills itself with ``SIGKILL`` the
first time it reaches that point: no ``finally`` block, no ``atexit`` handler and no JVM shutdown
hook runs, exactly as when the operating system or Fabric ends a driver. Unset (always, outside
tests), :func:`reached` is a dictionary lookup and nothing else.

``FABGEN_PAUSE_AT`` (``<point>[@<export>]:<seconds>``) makes the run sleep at a point instead,
so a test can hold a run there (e.g. with its lease taken) while another process starts.

The points, in the order one export passes them (see ``docs/running.md``):

=====================  ==========================================================================
``after_lease``        the call's leases are taken; no log row yet (once per call, not per export)
``after_log``          the call's first log commit is done (rows ``running``); nothing staged yet
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
import time

log = logging.getLogger(__name__)

ENV = "FABGEN_KILL_AT"
PAUSE_ENV = "FABGEN_PAUSE_AT"


def _matches(wanted: str, point: str, export_name: str | None) -> bool:
    name, _, export = wanted.partition("@")
    return name == point and (not export or export == export_name)


def reached(point: str, export_name: str | None = None) -> None:
    """Kill this process with SIGKILL if ``FABGEN_KILL_AT`` names ``point`` (and ``export_name``);
    sleep there if ``FABGEN_PAUSE_AT`` names it."""
    pause = os.environ.get(PAUSE_ENV)
    if pause:
        wanted, _, seconds = pause.rpartition(":")
        if _matches(wanted, point, export_name):
            log.warning("failpoint %s reached (%s): pausing %s s", point, export_name or "-", seconds)
            time.sleep(float(seconds))
    armed = os.environ.get(ENV)
    if not armed or not _matches(armed, point, export_name):
        return
    log.warning("failpoint %s reached (%s): killing process %d", point, export_name or "-", os.getpid())
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.kill(os.getpid(), signal.SIGKILL)
