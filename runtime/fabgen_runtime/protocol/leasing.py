"""The leases of one orchestrator call over the :class:`~.tables.LeaseStore` port, for every engine.

Take the leases (:func:`~.tables.take_leases`), renew them on a heartbeat thread every TTL/3, tell
whether one surely still holds before publishing, store watermarks (compare-and-set) and release.
Spark runs it over :class:`fabgen_runtime.engines.spark.leases.SparkLeaseStore`, the Python engine over
:class:`fabgen_runtime.engines.python.tables.DeltaRsTables`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence

from ..errors import FabgenError
from ..state_model import now_utc
from . import lease as rules
from .tables import Key, LeaseClaim, LeaseStore, LeaseTerms, Row, WatermarkWrite, stored_keys, take_leases

log = logging.getLogger(__name__)


class Leases:
    """One owner's leases on a state-table store."""

    def __init__(self, store: LeaseStore, owner: str | None = None, seconds: float | None = None):
        self.tables = store
        self.owner = owner or rules.new_owner()
        self.seconds = seconds if seconds is not None else rules.lease_seconds()
        self.held: set[Key] = set()
        self.valid_until = 0.0  # time.monotonic() until which our leases surely hold
        self.renew_error: str | None = None
        self._check_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def terms(self) -> LeaseTerms:
        """Our lease values as of now (expiry ``seconds`` ahead)."""
        now = now_utc()
        return LeaseTerms(self.owner, rules.expiry(now, self.seconds), now)

    def acquire(self, runs: dict[Key, tuple[str, str]]) -> tuple[dict[Key, Row], dict[Key, rules.Lease]]:
        """Take the leases of ``runs`` ({key: (run_id, execution_id)}): (rows, refused by a live holder)."""
        started = time.monotonic()
        claims = [LeaseClaim(key, run, execution) for key, (run, execution) in sorted(runs.items())]
        rows, refused = take_leases(self.tables, claims, self.terms())
        self.held |= {key for key in runs if key not in refused}
        self.valid_until = started + self.seconds
        return rows, refused

    def read(self, keys: Iterable[Key]) -> dict[Key, Row]:
        """The watermark-table rows of ``keys`` (watermark, lease, exported schema)."""
        return self.tables.read_watermarks(keys)

    # ------------------------------------------------------------------ heartbeat
    def start_heartbeat(self) -> None:
        """Renew our leases every TTL/3 on a daemon thread until :meth:`stop_heartbeat`."""
        if self._thread is not None or not self.held:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="fabgen-lease-heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        """Stop renewing (called in ``finally``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _beat(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew()
                self.renew_error = None
            except FabgenError as exc:  # kept and reported: publishing refuses once valid() is False
                self.renew_error = f"{type(exc).__name__}: {exc}"
                log.warning("lease renewal failed (the next beat tries again): %s", self.renew_error)

    def renew(self) -> None:
        """Push the expiry of every lease we hold (one commit)."""
        if not self.held:
            return
        started = time.monotonic()
        self.tables.renew(self.terms())
        self.valid_until = started + self.seconds

    def valid(self) -> bool:
        """True while our leases have surely not lapsed (by the local clock)."""
        return time.monotonic() < self.valid_until - 1.0

    def holds(self, key: Key) -> bool:
        """True when we surely hold ``key``'s lease: by the local clock, else renewed and read back."""
        if key not in self.held:
            return False
        if self.valid():
            return True
        with self._check_lock:
            if self.valid():
                return True
            self.renew()
            row = self.tables.read_watermarks([key]).get(key, {})
            if row.get("lease_owner") == self.owner:
                return True
            self.held.discard(key)
            log.error("%s/%s: lease lost to %s", key[0], key[1], rules.Lease.of(row).describe())
            return False

    # ------------------------------------------------------------------ store + release
    def store(self, writes: Sequence[WatermarkWrite], release: bool = True) -> set[Key]:
        """Store watermarks (compare-and-set) and release the leases of ``writes`` in ONE commit.

        Returns the keys whose new watermark is stored. A refused compare-and-set keeps its lease
        in that commit; it is released afterwards (the run is over either way).
        """
        if not writes:
            return set()
        wanted = [w for w in writes if w.value is not None]
        schema_only = [w for w in writes if w.value is None and w.schema is not None]
        updated = self.tables.store(writes, self.terms(), release)
        expected = len(writes) if release else len(wanted) + len(schema_only)
        if updated == expected:
            done = {w.key for w in wanted}  # every row updated by its clause: no read needed
        else:
            done = stored_keys(self.tables.read_watermarks(w.key for w in wanted), wanted)
        if release:
            self.held -= {w.key for w in writes if w.value is None or w.key in done}
            refused = [w.key for w in wanted if w.key not in done]
            if refused:
                self.release(refused)
        return done

    def release(self, keys: Iterable[Key] | None = None) -> None:
        """Release leases without storing anything (all we still hold by default)."""
        chosen = set(self.held if keys is None else keys) & self.held
        if not chosen:
            return
        if chosen != self.held:
            self.store([WatermarkWrite(k, None, None, None, None, "", "") for k in sorted(chosen)])
            return
        self.tables.release(self.terms())
        self.held -= chosen
