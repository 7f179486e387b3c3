"""The layer check lint runs (``scripts/check_layers.py``): what it counts as a leak and a cycle."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import check_layers


def test_engine_libraries_and_adapters_outside_their_engine_are_leaks() -> None:
    graph = {
        "fabgen_runtime.plan": {"fabgen_runtime.sql", "pyarrow.compute"},
        "fabgen_runtime.export": {"fabgen_runtime.engines.python.state", "fabgen_runtime.engines"},
        "fabgen_runtime.engines.python.read": {"deltalake", "pyarrow", "fabgen_runtime.plan"},
        "fabgen_runtime.engines.python.spark_bridge": {"pyspark.sql"},
        "fabgen_runtime.engines.spark.writer": {"pyspark.sql", "py4j.protocol", "pyarrow"},
        "fabgen_runtime.engines.spark.state": {"fabgen_runtime.engines.python.tables"},
        "fabgen_runtime": {"fabgen_runtime.engines.spark.state"},  # the public API
        "fabgen_runtime.sql": {"re", "deltalake_like_name"},
    }
    assert check_layers.leaks(graph) == {
        "fabgen_runtime.plan": ["pyarrow.compute"],
        "fabgen_runtime.export": ["fabgen_runtime.engines.python.state"],
        "fabgen_runtime.engines.python.spark_bridge": ["pyspark.sql"],
        "fabgen_runtime.engines.spark.writer": ["pyarrow"],
        "fabgen_runtime.engines.spark.state": ["fabgen_runtime.engines.python.tables"],
    }


def test_cycles_count_every_module_of_a_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert check_layers.cycles(graph) == [["a", "b", "c"]]


def test_the_runtime_breaks_no_layer() -> None:
    assert check_layers.main() == 0
