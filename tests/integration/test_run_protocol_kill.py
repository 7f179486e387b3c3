"""The kill matrix: ``fabgen run`` SIGKILLed at every named point, then a retry and a next run.

Per kill point, in its own workspace: a baseline run publishes rows 1-10 (the incremental export's
first file, the split full export's first set for the run date); rows 11-20 are appended; a child
``fabgen run`` (its own JVM) for the same run date kills itself at the point
(``FABGEN_KILL_AT=<point>@<export>``, see ``fabgen_runtime.failpoints``); a retry of that execution
runs in-process on the session's warm Spark; rows 21-30 are appended and a normal run follows.
The default tier kills at the points where Spark-specific code runs (``SPARK_SPECIFIC``), the full
tier (``scripts/test.sh --all``) at every point. The children of all selected points run before the
first test, each started as soon as its baseline is done (their JVM start-up is most of the
matrix's time); each point's test then checks its kill, retries and runs again.

After each step, against the source table: no row lost, no row in two published files, no trigger
beside a partial or mixed file set, and after the retry and the next run also staging empty, every
log row final and the stored watermark equal to the highest exported id.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from kill_checks import GROUP, check_after_kill, check_manifest_paths, check_settled, summary
from kill_support import (
    KILL_POINTS,
    ChildRun,
    KillProject,
    full_export,
    inc_export,
    kill_after_each_baseline,
    new_project,
    selected_points,
)

pytestmark = [pytest.mark.jvm, pytest.mark.slow]


CHILDREN_AT_ONCE = 4  # child JVMs killed concurrently (each ~1 GB; 2 cores: JVM start-up overlaps waits)


@dataclass
class Killed:
    """One kill point's project after its baseline run and its killed child."""

    project: KillProject
    execution_id: str
    child: ChildRun


@pytest.fixture(scope="module")
def killed(request, tmp_path_factory, spark, local_platform) -> dict[str, Killed]:
    """Every kill point's project: baseline run (checked), rows 11-20 added, then its child SIGKILLed.

    The baselines run in this process one after another; each point's child (its own JVM) starts as
    soon as its baseline is done, so the children's JVM start-up overlaps the next baselines (at
    most ``CHILDREN_AT_ONCE`` children at a time): the matrix spends its time in the children.
    """

    def baseline(point: str) -> KillProject:
        workspace = f"WS_KILL_{point}".upper()
        built = new_project(
            tmp_path_factory.mktemp(point),
            workspace,
            spark,
            local_platform,
            [inc_export(workspace), full_export(workspace)],
        )
        built.replace_rows(1, 10)
        first = built.run_in_process()
        assert first["success"], f"{point}: baseline run failed: {summary(first)}"
        check_settled(built, built.source_ids(), f"{point}: after the baseline run")
        check_manifest_paths(built, first, f"{point}: baseline")
        built.add_rows(11, 20)
        return built

    runs = kill_after_each_baseline(selected_points(request), baseline, CHILDREN_AT_ONCE)
    return {point: Killed(project, f"kill-{point}", child) for point, (project, child) in runs.items()}


#: the points where Spark-specific code runs when the kill lands: Hadoop's renames (a file moved
#: aside, the first data file renamed into place) and Delta commits on Spark (the success log row,
#: the watermark MERGE). The default tier kills there; the other points exercise the engine-neutral
#: protocol, which the Python engine's kill matrix covers at every point in the default tier.
SPARK_SPECIFIC = ("after_aside", "after_rename_1", "after_success_log", "after_watermark")
POINTS = [
    pytest.param(
        point, export, id=f"{point}@{export}", marks=() if point in SPARK_SPECIFIC else pytest.mark.full
    )
    for point, export in KILL_POINTS
]


@pytest.mark.parametrize(("point", "export"), POINTS)
def test_a_run_killed_at_a_point_is_finished_by_its_retry_and_the_next_run(
    killed: dict[str, Killed], point: str, export: str
) -> None:
    project, execution_id, child = killed[point].project, killed[point].execution_id, killed[point].child
    assert child.returncode == -9, (
        f"the child was not SIGKILLed at {point}@{export} (exit {child.returncode}): the runtime never "
        f"reached that failpoint\n{child.tail()}"
    )
    check_after_kill(project, f"after the kill at {point}")

    retry = project.run_in_process(execution_id=execution_id, retry=True)
    assert retry["success"], f"retry of {execution_id} failed: {summary(retry)}\n{retry['output']}"
    check_settled(project, project.source_ids(), f"after the retry of the kill at {point}")
    check_manifest_paths(project, retry, "retry")

    project.add_rows(21, 30)
    after = project.run_in_process()
    assert after["success"], f"next run failed: {summary(after)}"
    check_settled(project, project.source_ids(), f"after the next run (kill at {point})")
    runs = [r for r in project.log_rows() if r["export_group_name"] == GROUP]
    assert {r["export_state"] for r in runs} <= {"success", "warning", "error"}, runs
