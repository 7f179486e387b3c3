"""A lost watermark commit on the Spark engine (issue #24 item 4): the next run stores the log's value
again, with a warning naming both values, and exports only the new rows (the Python engine's test is in
``test_python_engine_lost_state.py``)."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import pytest
from kill_checks import check_incremental, summary
from kill_support import inc_export, new_project

pytestmark = [pytest.mark.jvm]


def test_a_lost_watermark_commit_is_repaired_on_spark(
    tmp_path, spark, local_platform, caplog, monkeypatch
) -> None:
    monkeypatch.setenv("FABGEN_LEASE_SECONDS", "1")  # the lost commit also released run two's lease
    workspace = f"WS_LOSTWM_{uuid.uuid4().hex[:6]}".upper()
    p = new_project(tmp_path / workspace, workspace, spark, local_platform, [inc_export(workspace)], 1)
    p.add_rows(1, 10)
    assert p.run_in_process(execution_id="one")["success"]
    p.add_rows(11, 20)
    assert p.run_in_process(execution_id="two")["success"]
    assert p.stored_watermark("inc") == "20"
    log_dir = Path(p.state_path("log_resource_export_watermark")) / "_delta_log"
    version = max(log_dir.glob("*.json")).stem  # the commit that stored "20" is lost, with its checksums
    for lost in [f for f in log_dir.iterdir() if f.name.lstrip(".").startswith(version)]:
        lost.unlink()
    assert p.stored_watermark("inc") == "10"

    p.add_rows(21, 25)
    time.sleep(1.5)  # run two's lease (taken again by the rollback) lapses; its process is this one
    with caplog.at_level(logging.WARNING, logger="fabgen_runtime.watermark_guard"):
        third = p.run_in_process(execution_id="three")
    assert third["success"], summary(third)
    assert any(
        "the stored watermark '10'" in r.message and "behind '20'" in r.message for r in caplog.records
    )
    check_incremental(p, "inc", p.source_ids(), "after the repaired watermark")
