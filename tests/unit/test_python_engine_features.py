"""Which Delta protocols the Python engine refuses (:mod:`fabgen_runtime.engines.python.features`);
deletion vectors and column mapping (modes ``name``/``id``) are read, not refused.

The protocols are the ones local Spark (delta-spark 4.2) wrote in
``tests/integration/test_python_engine_reader_features.py``, where the refusal is checked against
real tables; here the rule itself, without a JVM.
"""

from __future__ import annotations

import pytest
from fabgen_runtime.engines.python.features import message, unreadable

CM = "delta.columnMapping.mode"


@pytest.mark.parametrize(
    ("version", "features", "configuration", "expected"),
    [
        pytest.param(1, None, {}, [], id="plain"),
        pytest.param(3, ["timestampNtz"], {}, [], id="timestamp-ntz"),
        pytest.param(3, [], {}, [], id="v3-no-features"),
        pytest.param(3, ["deletionVectors"], {}, [], id="deletion-vectors-read"),
        pytest.param(
            3,
            ["deletionVectors", "timestampNtz"],
            {"delta.enableDeletionVectors": "false"},
            [],
            id="dv-feature-disabled-property",
        ),
        pytest.param(2, None, {CM: "name"}, [], id="column-mapping-v2-name"),
        pytest.param(2, None, {CM: "none"}, [], id="reader-v2"),
        pytest.param(3, ["columnMapping"], {CM: "id"}, [], id="column-mapping-v3-id"),
        pytest.param(1, None, {CM: "Name"}, [], id="mode-without-protocol"),
        pytest.param(3, ["deletionVectors", "columnMapping"], {CM: "name"}, [], id="both"),
        pytest.param(2, None, {CM: "physical"}, ["columnMapping"], id="unknown-mode"),
        pytest.param(3, ["v2Checkpoint"], {}, ["v2Checkpoint"], id="unknown-feature"),
        pytest.param(4, None, {}, ["reader version 4"], id="future-version"),
        pytest.param(1, None, {CM: None}, [], id="null-property"),
    ],
)
def test_unreadable(version, features, configuration, expected) -> None:
    assert unreadable(version, features, configuration) == expected


def test_message_names_table_features_and_the_way_out() -> None:
    text = message("dbo.orders", ["columnMapping", "v2Checkpoint"])
    assert text.startswith("cannot read lakehouse table dbo.orders with the python engine")
    assert "columnMapping: an unknown delta.columnMapping.mode" in text
    assert "v2Checkpoint" in text and text.endswith(
        "run this export on the spark engine (groups.<group>.engine: spark)"
    )
