"""The layer check lint runs (``scripts/check_layers.py``): what it counts as a leak and a cycle."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import check_layers


def test_engine_libraries_and_adapters_outside_engines_are_leaks() -> None:
    graph = {
        "fabgen_runtime.plan": {"fabgen_runtime.sql", "pyarrow.compute"},
        "fabgen_runtime.export": {"fabgen_runtime.engines.python.state"},
        "fabgen_runtime.engines.python.read": {"deltalake", "pyarrow"},
        "fabgen_runtime.sql": {"re", "deltalake_like_name"},
    }
    assert check_layers.leaks(graph) == {
        "fabgen_runtime.plan": ["pyarrow.compute"],
        "fabgen_runtime.export": ["fabgen_runtime.engines.python.state"],
    }


def test_cycles_count_every_module_of_a_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert check_layers.cycles(graph) == [["a", "b", "c"]]


def test_the_runtime_breaks_no_layer_beyond_the_known_ones() -> None:
    assert check_layers.main() == 0
