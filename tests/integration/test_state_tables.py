"""Creating the state tables when two runs start at once on a new config lakehouse.

Delta lets one creator commit a table's first version and refuses the other ("location is not
empty"). These tests put a table's location in the state the loser sees: a folder another creator
has started to write, whose first commit lands a moment later (copied in by a thread, exactly as
Delta's own commit file), and check that the logger waits for it and uses that table, and that a
folder which never becomes a table is reported and left untouched.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fabgen_runtime.errors import StateError
from fabgen_runtime.state import LOG_COLUMNS, WATERMARK_COLUMNS, ExportLogger, struct

pytestmark = [pytest.mark.jvm]


def logger_for(spark: Any, local_platform: Any, workspace: str) -> ExportLogger:
    return ExportLogger(
        {"workspace": workspace, "lakehouse": "lh_config"}, spark=spark, platform=local_platform
    )


def first_commit(spark: Any, scratch: Path, columns: dict[str, str]) -> Path:
    """The version-0 commit file of a table with ``columns``, made elsewhere."""
    from delta.tables import DeltaTable

    DeltaTable.createIfNotExists(spark).location(str(scratch)).addColumns(struct(columns)).execute()
    return scratch / "_delta_log" / "00000000000000000000.json"


def land_later(commit: Path, table: Path, delay: float) -> threading.Thread:
    """Copy ``commit`` into ``table``'s ``_delta_log`` after ``delay`` seconds (the other creator)."""

    def land() -> None:
        time.sleep(delay)
        (table / "_delta_log").mkdir(parents=True, exist_ok=True)
        shutil.copy(commit, table / "_delta_log" / commit.name)

    thread = threading.Thread(target=land, daemon=True)
    thread.start()
    return thread


def columns_of(spark: Any, path: str) -> set[str]:
    return {f.name for f in spark.read.format("delta").load(path).schema.fields}


@pytest.mark.parametrize("started", ["log folder only", "another file only"])
def test_a_table_another_run_is_creating_is_waited_for_and_used(
    tmp_path, spark, local_platform, started
) -> None:
    workspace = "WS_CREATE_RACE_" + started.replace(" ", "_").upper()
    logger = logger_for(spark, local_platform, workspace)
    for path, columns in ((logger.log_path, LOG_COLUMNS), (logger.watermark_path, WATERMARK_COLUMNS)):
        table = Path(path.removeprefix("file:"))
        commit = first_commit(spark, tmp_path / table.name, dict(columns))
        # what the winner has written before its first commit lands
        if started == "log folder only":
            (table / "_delta_log").mkdir(parents=True)
        else:
            table.mkdir(parents=True)
            (table / "_delta_log.tmp-marker").write_text("in progress")
        land_later(commit, table, delay=1.5)
    logger.ensure_tables()
    assert columns_of(spark, logger.log_path) == set(LOG_COLUMNS)
    assert columns_of(spark, logger.watermark_path) == set(WATERMARK_COLUMNS)
    assert spark.read.format("delta").load(logger.log_path).count() == 0


def test_a_folder_that_never_becomes_a_table_is_reported_and_left_alone(
    tmp_path, spark, local_platform
) -> None:
    logger = logger_for(spark, local_platform, "WS_CREATE_FOREIGN")
    logger.create_wait_seconds = 1.0
    table = Path(logger.log_path.removeprefix("file:"))
    table.mkdir(parents=True)
    foreign = table / "notes.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(StateError, match="log_resource_export"):
        logger.ensure_tables()
    assert sorted(p.name for p in table.iterdir()) == ["notes.csv"]
    assert foreign.read_text() == "a,b\n1,2\n"
