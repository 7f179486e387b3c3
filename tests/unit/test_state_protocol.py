"""The state tables' pinned protocol and what the Python engine accepts (pure; no JVM, no delta-rs)."""

from __future__ import annotations

import pytest
from fabgen_runtime import state_protocol


@pytest.mark.parametrize(
    ("protocol", "found"),
    [
        ((1, 2, None, None), []),  # what both engines create
        ((1, 1, None, None), []),
        ((1, 7, [], ["appendOnly", "invariants"]), []),
        ((1, 7, None, ["appendOnly", "changeDataFeed", "invariants"]), []),
        ((3, 7, ["deletionVectors"], ["appendOnly", "deletionVectors", "invariants"]), ["deletionVectors"]),
        ((3, 7, ["deletionVectors", "v2Checkpoint"], ["deletionVectors", "v2Checkpoint"]),
         ["deletionVectors", "v2Checkpoint"]),
        ((1, 7, None, ["appendOnly", "checkpointProtection", "invariants"]), ["checkpointProtection"]),
        ((1, 7, None, ["domainMetadata", "rowTracking"]), ["domainMetadata", "rowTracking"]),
        ((1, 7, None, ["inCommitTimestamp"]), ["inCommitTimestamp"]),
        ((2, 5, None, None), ["reader version 2", "writer version 5"]),  # column mapping, legacy
        ((1, 4, None, None), ["writer version 4"]),
    ],
)  # fmt: skip
def test_what_the_python_engine_cannot_use(protocol: tuple, found: list[str]) -> None:
    assert state_protocol.unsupported(*protocol) == found


def test_spark_pins_every_default_delta_rs_cannot_use_and_the_newer_keys_only_on_spark_4() -> None:
    older, newer = state_protocol.spark_properties("3.5.5"), state_protocol.spark_properties("4.1.1")
    assert older == state_protocol.SPARK_PROPERTIES
    assert newer == {**older, "delta.enableInCommitTimestamps": "false"}
    assert older["delta.enableDeletionVectors"] == "false"
    assert (older["delta.minReaderVersion"], older["delta.minWriterVersion"]) == ("1", "2")
    assert state_protocol.DELTA_RS_PROPERTIES == {"delta.enableDeletionVectors": "false"}


def test_the_refusal_names_the_table_what_it_uses_and_the_fix() -> None:
    path = "abfss://ws@onelake.dfs.fabric.microsoft.com/lh_config.Lakehouse/Tables/dbo/log_resource_export"
    text = state_protocol.refusal("log_resource_export", path, 3, 7, ["deletionVectors"], "1.2.1")
    assert text.startswith(
        f"the state table log_resource_export at {path} uses Delta reader 3 / writer 7 with "
        "deletionVectors, which the python engine (deltalake 1.2.1) cannot use; nothing was read or written."
    )
    assert (
        "from fabgen_runtime.engines.spark.state_tables import rebuild_state_table; "
        f'rebuild_state_table(spark, "{path}")' in text
    )
    assert f"ALTER TABLE delta.`{path}` DROP FEATURE deletionVectors TRUNCATE HISTORY" in text
    other = state_protocol.refusal("log_resource_export", path, 1, 7, ["rowTracking"], "1.2.1")
    assert "rebuild_state_table" in other and "DROP FEATURE" not in other  # Delta's route is for DVs only
