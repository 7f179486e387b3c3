"""Spark and py4j failures, turned into fabgen's errors with a one-paragraph message.

Every module that calls Spark or Delta catches :func:`spark_errors` (never a bare ``Exception``)
and re-raises one of :mod:`fabgen_runtime.errors` with :func:`spark_message`; :func:`guarded`
does both for one call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ...errors import ExportError, StateError

T = TypeVar("T")


def spark_errors() -> tuple[type[BaseException], ...]:
    """The exception types Spark raises for bad queries and failed reads."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JError, OSError)


def spark_message(exc: BaseException) -> str:
    """A one-paragraph message from a Spark / py4j exception (no JVM stack trace)."""
    text = str(getattr(exc, "desc", None) or exc)
    text = text.split("\n\tat ", 1)[0].split("\nJVM stacktrace:", 1)[0]
    return " ".join(text.split())[:2000]


def guarded(action: Callable[[], T], what: str, error: type[ExportError] = StateError) -> T:
    """Run ``action``; a Spark/Delta failure becomes ``error`` saying ``what`` failed."""
    try:
        return action()
    except spark_errors() as exc:
        raise error(f"{what} failed: {spark_message(exc)}") from exc
