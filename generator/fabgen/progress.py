"""What ``fabgen run`` shows while it runs: one line per export event, and on a terminal a live
status line (exports done of total, rows written, elapsed) kept below those lines.

:class:`Progress` is the orchestrator's ``on_event`` handler. Where the output is not a terminal
(CI logs, pipes) it prints plain lines only, so a log holds each event once and no control codes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import IO, Any

import click
from fabgen_runtime.export import ExportEvent
from fabgen_runtime.summary import error_text

Echo = Callable[[str], None]

#: the stages printed as a line (the others: planned, read, logged, watermark, group_finished)
SHOWN = frozenset({"started", "written", "published", "finished", "skipped", "group_started"})


class Progress:
    """Prints one line per export stage change (thread-safe); a live status line on a terminal.

    Lines go to ``echo``. ``live``, a terminal stream (the one ``echo`` writes to), gets the status
    line below them, redrawn every second; without it only the lines are printed. ``total`` (the
    exports the run starts) is set by the run before its first event.
    """

    TICK_SECONDS = 1.0

    def __init__(self, echo: Echo, live: IO[str] | None = None, total: int = 0):
        self._echo = echo
        self.live = live
        self.total = total
        self.lock = threading.RLock()
        self.started: dict[str, float] = {}
        self.begun = time.monotonic()
        self.done = 0
        self.rows = 0
        self.running = False
        self._status_shown = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._redirected: list[tuple[logging.StreamHandler[Any], Any]] = []

    @classmethod
    def for_stream(cls, stream: IO[str]) -> Progress:
        """Lines to ``stream``; the live status line too when ``stream`` is a terminal."""
        live = stream if stream.isatty() else None
        return cls(lambda line: click.echo(line, file=stream), live)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Progress:
        if self.live is not None:
            self._redirected = self._logs_above_status()
            self._ticker = threading.Thread(target=self._tick, name="fabgen-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self.lock:
            self._clear_status()
            for handler, stream in self._redirected:
                handler.setStream(stream)

    def _logs_above_status(self) -> list[tuple[logging.StreamHandler[Any], Any]]:
        """Point the root logger's terminal handlers at a stream that keeps the status line last."""
        redirected = []
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and _isatty(handler.stream):
                redirected.append((handler, handler.setStream(_AboveStatus(self, handler.stream))))
        return redirected

    def _tick(self) -> None:
        while not self._stop.wait(self.TICK_SECONDS):
            with self.lock:
                self._draw_status()

    # ------------------------------------------------------------------ events

    def __call__(self, event: ExportEvent) -> None:
        if event.stage not in SHOWN:
            return
        with self.lock:
            self.running = True
            self._line(self.describe(event))

    def describe(self, event: ExportEvent) -> str:
        """The line of one event (counting finished and skipped exports and their rows)."""
        if event.stage == "group_started":
            return f"execution group {event.execution_group}: {event.detail}"
        if event.stage == "started":
            self.started[event.export] = time.monotonic()
        seconds = time.monotonic() - self.started.get(event.export, time.monotonic())
        detail = event.detail
        if event.stage in ("finished", "skipped"):
            self.done += 1
        if event.stage == "finished" and event.result is not None:
            r = event.result
            self.rows += r.rows_exported or 0
            error = error_text(event.export, r.error) if r.error else ""
            detail = f"{r.status}, {r.rows_exported} rows" + (f": {error}" if error else "")
        return f"  [{seconds:6.1f}s] {event.export}: {event.stage} {detail}".rstrip()

    def status(self) -> str:
        """The live status text: exports done of total, rows written, elapsed time."""
        elapsed = int(time.monotonic() - self.begun)
        clock = f"{elapsed // 60:02d}:{elapsed % 60:02d} elapsed"
        if not self.running:
            return f"starting Spark, {clock}"
        return f"{self.done}/{self.total} export(s) done, {self.rows:,} rows written, {clock}"

    def echo(self, line: str) -> None:
        """Print a line of the run (keeping the status line below it on a terminal).

        The run's first line (printed once Spark is up) ends the "starting Spark" status.
        """
        with self.lock:
            self.running = True
            self._line(line)

    # ------------------------------------------------------------------ drawing (lock held)

    def _line(self, line: str) -> None:
        self._clear_status()
        self._echo(line)
        self._draw_status()

    def _clear_status(self) -> None:
        if self._status_shown and self.live is not None:
            self.live.write("\r\x1b[2K")
            self.live.flush()
            self._status_shown = False

    def _draw_status(self) -> None:
        if self.live is None or self._stop.is_set():
            return
        self.live.write("\r\x1b[2K" + click.style(self.status(), dim=True))
        self.live.flush()
        self._status_shown = True


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _AboveStatus:
    """A log stream writing above the live status line (cleared first, redrawn after)."""

    def __init__(self, progress: Progress, stream: IO[str]):
        self.progress = progress
        self.stream = stream

    def write(self, text: str) -> int:
        with self.progress.lock:
            self.progress._clear_status()
            written = self.stream.write(text)
            self.stream.flush()
            if text.endswith("\n"):
                self.progress._draw_status()
            return written

    def flush(self) -> None:
        self.stream.flush()
