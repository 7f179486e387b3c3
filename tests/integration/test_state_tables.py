"""Creating the state tables when two runs start at once on a new config lakehouse, and at the
pinned protocol (reader 1 / writer 2, no deletion vectors) whatever the session's defaults.

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
from fabgen_runtime import ExportLogger
from fabgen_runtime.engines.spark.schema import struct
from fabgen_runtime.errors import StateError
from fabgen_runtime.state_model import LOG_COLUMNS, WATERMARK_COLUMNS

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
    logger.tables.create_wait_seconds = 1.0  # type: ignore[attr-defined]
    table = Path(logger.log_path.removeprefix("file:"))
    table.mkdir(parents=True)
    foreign = table / "notes.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(StateError, match="log_resource_export"):
        logger.ensure_tables()
    assert sorted(p.name for p in table.iterdir()) == ["notes.csv"]
    assert foreign.read_text() == "a,b\n1,2\n"


#: session defaults a workspace could set beside Runtime 2.0's deletion vectors; each one gives a new
#: table a feature delta-rs 1.2.1 cannot use, unless the table's own properties say otherwise
WORKSPACE_DEFAULTS = {
    "enableDeletionVectors": "true",
    "enableRowTracking": "true",
    "checkpointPolicy": "v2",
    "columnMapping.mode": "name",
    "enableInCommitTimestamps": "true",
    "enableChangeDataFeed": "true",
    "enableTypeWidening": "true",
    "minReaderVersion": "3",
    "minWriterVersion": "7",
}


def detail(spark: Any, path: str) -> tuple[int, int, list[str], dict[str, str]]:
    row = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0]
    return row["minReaderVersion"], row["minWriterVersion"], sorted(row["tableFeatures"]), row["properties"]


def test_state_tables_are_created_at_the_pinned_protocol_whatever_the_session_defaults(
    tmp_path, spark, local_platform, caplog
) -> None:
    """Under Fabric Runtime 2.0's defaults (the test session's, unless FABGEN_LOCAL_DEFAULTS=oss) a new
    Delta table gets deletion vectors; the state tables do not, nor under every default above."""
    from delta.tables import DeltaTable
    from deltalake import DeltaTable as DeltaRsTable
    from fabgen_runtime.engines.spark.local_spark import fabric_defaults
    from fabgen_runtime.engines.spark.state_tables import TableSetup

    assert spark.conf.get("spark.databricks.delta.properties.defaults.enableDeletionVectors", None) == (
        fabric_defaults().get("spark.databricks.delta.properties.defaults.enableDeletionVectors")
    )
    session = spark.newSession()
    for key, value in WORKSPACE_DEFAULTS.items():
        session.conf.set(f"spark.databricks.delta.properties.defaults.{key}", value)
    plain = str(tmp_path / "plain")  # any other table of that session
    DeltaTable.createIfNotExists(session).location(plain).addColumns(
        struct(dict(WATERMARK_COLUMNS))
    ).execute()
    features = detail(spark, plain)[2]
    assert {"deletionVectors", "rowTracking", "v2Checkpoint", "columnMapping", "inCommitTimestamp"} <= set(
        features
    )

    logger = logger_for(spark, local_platform, "WS_CREATE_PINNED")  # the logger's own session
    logger.ensure_tables()
    pinned = str(tmp_path / "pinned")  # and one created on the session with every default above
    TableSetup(session, session, wait_seconds=5).ensure(pinned, dict(WATERMARK_COLUMNS), create=True)
    for path in (logger.log_path, logger.watermark_path, pinned):
        reader, writer, features, properties = detail(spark, path)
        # reader 1 / writer 2: DESCRIBE DETAIL lists the two features writer 2 implies
        assert (reader, writer, features) == (1, 2, ["appendOnly", "invariants"]), (path, features)
        assert properties["delta.enableDeletionVectors"] == "false"
        protocol = DeltaRsTable(path).protocol()  # what delta-rs sees
        assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)
        assert not protocol.reader_features and not protocol.writer_features

    # a default no property pins (a table feature switched on by name): the table is used, and said
    session.conf.set("spark.databricks.delta.properties.defaults.feature.timestampNtz", "supported")
    other = str(tmp_path / "other")
    with caplog.at_level("WARNING", logger="fabgen_runtime.engines.spark.state_tables"):
        TableSetup(session, session, wait_seconds=5).ensure(other, dict(WATERMARK_COLUMNS), create=True)
    assert "timestampNtz" in detail(spark, other)[2]
    assert f"{other} was created at Delta reader 3 / writer 7 with timestampNtz" in caplog.text
