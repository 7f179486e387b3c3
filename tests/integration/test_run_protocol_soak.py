"""The run protocol under random SIGKILLs (issue #24's soak, as a test), on the Python engine (no JVM).

Each step appends source rows and starts a run for a new run date, SIGKILLs it at a random moment (the
delay drawn around a measured run's length), then does one of: ``recover``, a ``--retry`` of the killed
execution, or a plain next run. After every step :class:`soak_support.Ledger` checks what a consumer
would see: no published id disappears, none is published twice, no trigger stands without its data,
the full export's triggered file holds one source snapshot, and the watermarks never move backwards
(and cover what is published once nothing is killed). A final plain run must leave every source id
published exactly once by each incremental export, staging empty and every log row final.

Seeded: ``FABGEN_SOAK_SEED`` (default 24) and ``FABGEN_SOAK_KILLS`` (default 30) reproduce or lengthen
a run; every assertion names the seed and the step. The Spark variant (``jvm``) kills two ``fabgen run``
children at seeded failpoints after staging and after publishing (``FABGEN_SPARK_SOAK_KILLS``; each
child is a JVM, about a minute apiece).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from kill_support import new_project
from python_kill_support import PythonKillProject
from soak_support import KILLS, SEED, Ledger, soak_exports

pytestmark = [pytest.mark.slow]
ROWS_PER_STEP = 15


def day(step: int) -> str:
    return (date(2025, 3, 1) + timedelta(days=step)).isoformat()


def run(p: PythonKillProject, run_date: str, execution_id: str, retry: bool = False, **env: str) -> dict:
    """One run (or ``FABGEN_CHILD_RECOVER=1``: a recover) to its end; its printed result."""
    args = p.child_args(run_date, execution_id, retry)
    done = subprocess.run(
        args, cwd=p.root, env=p.child_env(**env), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, (
        f"{args}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def killed_run(p: PythonKillProject, run_date: str, execution_id: str, delay: float) -> bool:
    """Start a run and SIGKILL it after ``delay`` seconds; True when the kill landed before its end."""
    proc = subprocess.Popen(
        p.child_args(run_date, execution_id, False),
        cwd=p.root,
        env=p.child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes every thread and child
    )
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    landed = proc.poll() is None
    if landed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return landed


def test_random_kills_lose_no_row_and_publish_none_twice(tmp_path: Path, local_platform) -> None:
    seed = int(os.environ.get("FABGEN_SOAK_SEED", SEED))
    kills = int(os.environ.get("FABGEN_SOAK_KILLS", KILLS))
    rng = random.Random(seed)
    workspace = f"soak_{uuid.uuid4().hex[:8]}"
    p = new_project(
        tmp_path / workspace,
        workspace,
        None,
        local_platform,
        soak_exports(workspace),
        2,
        kind=PythonKillProject,
    )
    assert isinstance(p, PythonKillProject)
    ledger = Ledger()

    p.add_rows(1, ROWS_PER_STEP)
    ledger.snapshots.append(p.source_ids())
    started = time.monotonic()
    first = run(p, day(0), "step-0")
    length = time.monotonic() - started
    assert first["success"], first
    ledger.check(p, f"seed {seed}, step 0 (a plain run)", settled=True)

    landed, actions = 0, {"recover": 0, "retry": 0, "next run": 0}
    step = 0
    while landed < kills and step < kills * 3:
        step += 1
        when = f"seed {seed}, step {step}"
        top = p.source_ids()[-1]
        p.add_rows(top + 1, top + ROWS_PER_STEP)
        ledger.snapshots.append(p.source_ids())
        execution = f"step-{step}"
        if killed_run(p, day(step), execution, rng.uniform(0.05, 1.1) * length):
            landed += 1
        ledger.check(p, f"{when}: right after the kill", settled=False)
        action = rng.choice(sorted(actions))
        actions[action] += 1
        if action == "recover":
            run(p, day(step), execution, FABGEN_CHILD_RECOVER="1")
        elif action == "retry":
            run(p, day(step), execution, retry=True)
        else:
            step += 1
            run(p, day(step), f"step-{step}")
        ledger.check(p, f"{when}: after {action}", settled=action != "recover")

    final = run(p, day(step + 1), "final")
    assert final["success"], final
    ledger.check(p, f"seed {seed}: after the final run", settled=True)
    ledger.check_complete(p, p.source_ids(), f"seed {seed}: after the final run")
    assert landed >= kills, f"seed {seed}: only {landed} of {step} kills landed before the run ended"
    print(f"soak: seed {seed}, {landed} kills in {step} steps, actions {actions}, run length {length:.2f}s")


SPARK_POINTS = ["after_staging", "after_rename_1", "after_trigger", "after_success_log", "before_watermark"]


@pytest.mark.jvm
@pytest.mark.full  # the Spark kill matrix's default tier kills at the Spark-specific points
def test_a_few_spark_runs_killed_after_staging_and_after_publish(
    tmp_path: Path, spark, local_platform
) -> None:
    """The soak's shorter Spark variant: ``fabgen run`` children (their own JVM) killed at a seeded
    choice of points after staging and after publishing, each followed by recover, retry or a next
    run on the session's warm Spark, with the same invariants after every step."""
    from fabgen.local_run import recover_project
    from fabgen.project import load_project
    from kill_checks import GROUP

    seed = int(os.environ.get("FABGEN_SOAK_SEED", SEED))
    rng = random.Random(seed)
    workspace = f"WS_SOAK_{uuid.uuid4().hex[:6]}".upper()
    p = new_project(tmp_path / workspace, workspace, spark, local_platform, soak_exports(workspace), 2)
    ledger = Ledger()
    p.add_rows(1, ROWS_PER_STEP)
    ledger.snapshots.append(p.source_ids())
    assert p.run_in_process(execution_id="step-0", run_date=day(0))["success"]
    ledger.check(p, f"spark seed {seed}, step 0", settled=True)
    step = 0
    for _ in range(int(os.environ.get("FABGEN_SPARK_SOAK_KILLS", 2))):
        step += 1
        top = p.source_ids()[-1]
        p.add_rows(top + 1, top + ROWS_PER_STEP)
        ledger.snapshots.append(p.source_ids())
        point = f"{rng.choice(SPARK_POINTS)}@{rng.choice(['gz', 'split', 'pq', 'js'])}"
        when = f"spark seed {seed}, step {step} (killed at {point})"
        killed = p.run_child("--execution-id", f"step-{step}", "--run-date", day(step), kill_at=point)
        assert killed.returncode == -9, f"{when}: {killed.tail()}"
        ledger.check(p, f"{when}: right after the kill", settled=False)
        action = rng.choice(["recover", "retry", "next run"])
        if action == "recover":
            recover_project(load_project(p.root), GROUP)
        elif action == "retry":
            assert p.run_in_process(execution_id=f"step-{step}", retry=True, run_date=day(step))["success"], (
                when
            )
        else:
            step += 1
            assert p.run_in_process(execution_id=f"step-{step}", run_date=day(step))["success"], when
        ledger.check(p, f"{when}: after {action}", settled=action != "recover")
    assert p.run_in_process(execution_id="final", run_date=day(step + 1))["success"]
    ledger.check(p, f"spark seed {seed}: after the final run", settled=True)
    ledger.check_complete(p, p.source_ids(), f"spark seed {seed}: after the final run")
