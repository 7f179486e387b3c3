"""Keep the local JVM's start-up chatter off the user's terminal.

The driver JVM that pyspark starts writes to the stderr it inherits. A few lines it prints on
every start are noise to a fabgen user (``WARNING: Using incubator modules``, Hadoop's
``NativeCodeLoader`` warning, Spark's log4j profile notices). The runtime's quiet log4j2 file
(:func:`fabgen_runtime.engines.spark.local_spark.log4j2_config`) stops the log4j ones; the JVM's own
``WARNING:`` line can only be filtered. :func:`start_spark_quietly` starts Spark with the JVM's
stderr going through a pipe that drops exactly those known lines and passes every other line (real
errors) on to the real stderr. Python's own stderr is untouched once Spark is up.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from fabgen_runtime.engines.spark.local_spark import startup_logs_wanted
from fabgen_runtime.platform import LocalPlatform

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

#: Lines the JVM or Spark print on every start; nothing else is ever dropped.
STARTUP_LINES = re.compile(
    r"^(WARNING: Using incubator modules"
    r"|.*\bWARN NativeCodeLoader: Unable to load native-hadoop library"
    r"|Using Spark's default log4j profile"
    r"|Setting default log level to "
    r"|To adjust logging level use sc\.setLogLevel)"
)


def is_startup_line(line: str) -> bool:
    """Whether ``line`` is one of the JVM/Spark start-up lines fabgen hides (see :data:`STARTUP_LINES`)."""
    return STARTUP_LINES.match(line) is not None


def _forward(read_fd: int, write_fd: int) -> None:
    """Copy lines from ``read_fd`` to ``write_fd``, dropping start-up lines, until end of file."""
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            chunk = pipe.read(65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [line for line in lines if not is_startup_line(line.decode("utf-8", "replace"))]
            if kept:
                os.write(write_fd, b"\n".join(kept) + b"\n")
    if pending and not is_startup_line(pending.decode("utf-8", "replace")):
        os.write(write_fd, pending)


def start_spark_quietly(start: Callable[[], SparkSession]) -> SparkSession:
    """``start()``, with the JVM it launches (if any) writing stderr through the filter.

    File descriptor 2 points at a pipe only while the JVM is being launched (it inherits that
    pipe); then it points at the real stderr again. A daemon thread forwards the JVM's lines.
    """
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:  # the JVM runs already: nothing to hide
        return start()
    sys.stderr.flush()
    real_stderr = os.dup(2)
    read_fd, write_fd = os.pipe()
    threading.Thread(target=_forward, args=(read_fd, real_stderr), name="jvm-stderr", daemon=True).start()
    os.dup2(write_fd, 2)
    try:
        return start()
    finally:
        sys.stderr.flush()
        os.dup2(real_stderr, 2)
        os.close(write_fd)  # the JVM holds its own copy; the forwarder ends when the JVM does


class QuietLocalPlatform(LocalPlatform):
    """The runtime's local platform, starting Spark without the start-up lines (unless
    ``FABGEN_SPARK_STARTUP_LOGS=1``, which ``fabgen --debug`` sets)."""

    def spark(self) -> SparkSession:
        if startup_logs_wanted():
            return super().spark()
        return start_spark_quietly(super().spark)
