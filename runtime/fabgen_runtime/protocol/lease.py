"""Lease and watermark decisions, pure: one writer per export, watermarks only move forward.

A lease is a few columns of the export's row in ``log_resource_export_watermark``: ``lease_owner``
(unique per orchestrator call), the run and execution holding it, the host and pid of its
process, and ``lease_expires_at``. The Delta commits that take, renew and release leases live in
:mod:`fabgen_runtime.engines.spark.leases`; the rules are here so every engine applies the same ones.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .journal import this_host

ENV_SECONDS = "FABGEN_LEASE_SECONDS"
DEFAULT_SECONDS = 120.0


def lease_seconds() -> float:
    """The lease duration (``FABGEN_LEASE_SECONDS``, default 120)."""
    raw = os.environ.get(ENV_SECONDS, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_SECONDS
    except ValueError:
        value = DEFAULT_SECONDS
    return max(value, 1.0)


def new_owner() -> str:
    """A lease owner id: host, pid and a random part (unique per orchestrator call)."""
    return f"{this_host()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Lease:
    """The lease columns of one export's row."""

    owner: str | None
    run_id: str | None = None
    execution_id: str | None = None
    host: str | None = None
    pid: int | None = None
    expires_at: datetime | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Lease:
        """The lease of a watermark-table row (a mapping of its columns)."""
        return cls(
            row.get("lease_owner"),
            row.get("lease_run_id"),
            row.get("lease_execution_id"),
            row.get("lease_host"),
            row.get("lease_pid"),
            _aware(row.get("lease_expires_at")),
        )

    def describe(self) -> str:
        """``run R (execution E) on host:pid until T`` for messages."""
        until = self.expires_at.isoformat(timespec="seconds") if self.expires_at else "?"
        return f"run {self.run_id} (execution {self.execution_id}) on {self.host}:{self.pid} until {until}"


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_free(
    lease: Lease,
    owner: str,
    now: datetime,
    host: str | None = None,
    alive: Callable[[int], bool] = pid_alive,
) -> bool:
    """True when ``owner`` may take the lease: free, ours, expired, or held by a dead local process."""
    if lease.owner is None or lease.owner == owner:
        return True
    if lease.expires_at is not None and lease.expires_at < now:
        return True
    return dead_local_holder(lease, host or this_host(), alive)


def dead_local_holder(lease: Lease, host: str, alive: Callable[[int], bool] = pid_alive) -> bool:
    """True when the lease's process ran on ``host`` and is gone (its lease is stale at once)."""
    return bool(lease.owner and lease.host == host and lease.pid is not None and not alive(int(lease.pid)))


def refusal(export: str, lease: Lease) -> str:
    """The message of an export whose lease another live run holds."""
    return (
        f"another run holds this export's lease: {lease.describe()}; not run (the lease lapses "
        f"{int(lease_seconds())}s after its holder stops renewing it)"
    )


def expiry(now: datetime, seconds: float | None = None) -> datetime:
    """When a lease taken or renewed ``now`` expires."""
    return now + timedelta(seconds=seconds if seconds is not None else lease_seconds())


def watermark_stored(row: Mapping[str, Any] | None, value: str, run_id: str) -> bool:
    """True when a watermark-table row holds ``value`` stored by ``run_id`` (the CAS applied)."""
    return row is not None and row.get("watermark_value") == value and row.get("updated_by_run_id") == run_id


def cas_allows(row: Mapping[str, Any] | None, expected: str | None, run_id: str) -> bool:
    """The compare-and-set rule: the stored value is still the run's start value, or already this run's."""
    stored = row.get("watermark_value") if row else None
    return stored == expected or bool(row and row.get("updated_by_run_id") == run_id)
