"""The notebook model and its two serializations (Fabric notebook-content.py and .ipynb)."""

from __future__ import annotations

import ast
import json

import nbformat
import pytest
from fabgen.notebook import (
    FABRIC_HEADER,
    KERNEL,
    Cell,
    EnvironmentDependency,
    LakehouseDependency,
    Notebook,
    NotebookFormatError,
    from_fabric_py,
    from_ipynb,
    to_fabric_py,
    to_ipynb,
)
from fabgen.pyliteral import py_literal

LAKEHOUSE = LakehouseDependency(
    default_lakehouse="11111111-2222-3333-4444-555555555555",
    default_lakehouse_name="lh_config",
    default_lakehouse_workspace_id="00000000-0000-0000-0000-000000000000",
    known_lakehouses=("99999999-2222-3333-4444-555555555555",),
)

NOTEBOOK = Notebook(
    cells=(
        Cell("markdown", "# Title\n\nSome *text*\n\n| a | b |\n| --- | --- |"),
        Cell("parameters", 'run_date = ""\nis_retry = False'),
        Cell("code", "%pip install --quiet /lakehouse/default/Files/x.whl"),
        Cell("code", "import os\n\n\ndef f():\n    return '# not a marker'\n\nprint(f())"),
        Cell("code", ""),
    ),
    lakehouse=LAKEHOUSE,
    environment=EnvironmentDependency("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
)


def test_fabric_py_round_trip() -> None:
    text = to_fabric_py(NOTEBOOK)
    assert from_fabric_py(text) == NOTEBOOK
    assert to_fabric_py(from_fabric_py(text)) == text


def test_fabric_py_layout() -> None:
    lines = to_fabric_py(NOTEBOOK).split("\n")
    assert lines[:4] == [FABRIC_HEADER, "", "# METADATA ********************", ""]
    assert lines[4] == "# META {"
    # Every marker is followed by a blank line, META JSON is indented two spaces.
    for i, line in enumerate(lines):
        if line.startswith("# ") and line.endswith(" ********************"):
            assert lines[i + 1] == "", line
    assert '# META   "kernel_info": {' in lines
    # Markdown lines are prefixed "# ", magic lines "# MAGIC ", code is left as it is.
    assert "# # Title" in lines and "# | a | b |" in lines
    assert "# MAGIC %pip install --quiet /lakehouse/default/Files/x.whl" in lines
    assert "    return '# not a marker'" in lines
    # Code and parameter cells carry their language metadata; markdown cells do not.
    assert lines.count("# METADATA ********************") == 1 + 4
    assert lines.count('# META   "language_group": "synapse_pyspark"') == 4
    assert lines[-1] == "" and lines[-2] == "# META }"


def test_fabric_py_metadata() -> None:
    text = to_fabric_py(NOTEBOOK)
    block = text.split("# MARKDOWN")[0].split("********************\n\n", 1)[1]
    meta = json.loads("\n".join(line.removeprefix("# META") for line in block.strip().split("\n")))
    assert meta["kernel_info"] == {"name": KERNEL}
    lakehouse = meta["dependencies"]["lakehouse"]
    assert lakehouse["default_lakehouse"] == LAKEHOUSE.default_lakehouse
    assert lakehouse["default_lakehouse_name"] == "lh_config"
    assert lakehouse["known_lakehouses"] == [
        {"id": LAKEHOUSE.default_lakehouse},
        {"id": "99999999-2222-3333-4444-555555555555"},
    ]
    assert meta["dependencies"]["environment"] == {
        "environmentId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "workspaceId": "00000000-0000-0000-0000-000000000000",
    }


def test_ipynb_round_trip_and_shape() -> None:
    text = to_ipynb(NOTEBOOK)
    assert from_ipynb(text) == NOTEBOOK
    node = nbformat.reads(text, as_version=4)
    nbformat.validate(node)
    assert (node.nbformat, node.nbformat_minor) == (4, 5)
    assert node.metadata.kernelspec.name == KERNEL
    assert node.metadata.kernel_info.name == KERNEL
    assert node.metadata.language_info.name == "python"
    assert node.metadata.dependencies.lakehouse.default_lakehouse_name == "lh_config"
    code = [cell for cell in node.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    tagged = [cell for cell in node.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].source.startswith("run_date")
    # Stable, unique cell ids: two serializations are byte-identical.
    assert len({cell.id for cell in node.cells}) == len(node.cells)
    assert to_ipynb(NOTEBOOK) == text


def test_both_formats_hold_the_same_cells() -> None:
    assert from_fabric_py(to_fabric_py(NOTEBOOK)).cells == from_ipynb(to_ipynb(NOTEBOOK)).cells


@pytest.mark.parametrize(
    "text, message",
    [
        ("print(1)\n", "first line"),
        (f"{FABRIC_HEADER}\n\n# CELL ********************\n\nx = 1\n", "METADATA block must come first"),
        (f"{FABRIC_HEADER}\n\n# METADATA ********************\n\n# META {{oops\n", "bad META"),
        (f"{FABRIC_HEADER}\n\n# METADATA ********************\n\nnot meta\n", "# META"),
    ],
)
def test_fabric_py_rejects_malformed_text(text: str, message: str) -> None:
    with pytest.raises(NotebookFormatError, match=message):
        from_fabric_py(text)


def test_cells_that_would_not_round_trip_are_refused() -> None:
    with pytest.raises(NotebookFormatError, match="marker"):
        to_fabric_py(Notebook((Cell("code", "x = 1\n# CELL ********************"),)))
    with pytest.raises(NotebookFormatError, match="blank lines"):
        to_fabric_py(Notebook((Cell("code", "\nx = 1"),)))
    with pytest.raises(ValueError, match="unknown cell kind"):
        Cell("raw", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        [],
        {},
        {"a": None, "b": True, "c": 3, "d": 1.5, "e": "x"},
        [{"query": "SELECT *\nFROM t\nWHERE a = 'x' AND b = \"y\"\n-- comment with \\ and \t tab\n"}],
        {"unicode": "naïve “quotes” 😀", "escapes": "\\n is not a newline", "ctl": "\x00\x1f\x7f"},
        {"long": ["column_" + str(i) for i in range(40)], "nested": {"k": [1, 2, {"x": "y"}]}},
    ],
)
def test_py_literal_round_trips(value: object) -> None:
    text = py_literal(value)
    assert ast.literal_eval(text) == value
    assert py_literal(value) == text


def test_py_literal_is_readable() -> None:
    text = py_literal([{"name": "a", "query": "SELECT a, b, c\nFROM some_table\nWHERE a > 1"}])
    assert text == (
        "[\n"
        "    {\n"
        '        "name": "a",\n'
        '        "query": (\n'
        '            "SELECT a, b, c\\n"\n'
        '            "FROM some_table\\n"\n'
        '            "WHERE a > 1"\n'
        "        ),\n"
        "    },\n"
        "]"
    )
    with pytest.raises(ValueError):
        py_literal({"x": object()})
