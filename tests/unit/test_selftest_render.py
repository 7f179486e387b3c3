"""``fabgen render`` writes the self-test notebooks (fabgen.selftest_render); the docs list its checks."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from fabgen.notebook import KERNEL, PYTHON_KERNEL, from_fabric_py, from_ipynb
from fabgen.project import load_project
from fabgen.render import render_project, write_output
from fabgen_runtime.selftest import CHECKS, checks_for
from sample_projects import EXPORTS, write_project

REPO = Path(__file__).resolve().parents[2]
SPARK_FILES = {
    "fabgen_selftest.Notebook/.platform",
    "fabgen_selftest.Notebook/notebook-content.py",
    "ipynb/fabgen_selftest.ipynb",
}
PYTHON_FILES = {f.replace("fabgen_selftest", "fabgen_selftest_python") for f in SPARK_FILES}


def _assigned(source: str, name: str):
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned")


def _code(notebook, needle: str) -> str:
    return next(c.source for c in notebook.cells if c.kind != "markdown" and needle in c.source)


def test_a_spark_only_project_gets_the_spark_self_test(tmp_path: Path) -> None:
    rendered = render_project(load_project(write_project(tmp_path / "shop")))
    assert {f for f in rendered.files if "selftest" in f} == SPARK_FILES
    notebook = from_fabric_py(rendered.files["fabgen_selftest.Notebook/notebook-content.py"])
    assert notebook.kernel == KERNEL
    assert from_ipynb(rendered.files["ipynb/fabgen_selftest.ipynb"]) == notebook
    assert [c.kind for c in notebook.cells] == ["markdown", "parameters", "code", "code", "code"]
    header = notebook.cells[0].source
    assert [m for m in re.findall(r"^\| `(\w+)` \|", header, re.M)] == [c.name for c in checks_for("spark")]
    run = _code(notebook, "TARGET_LAKEHOUSES")
    assert _assigned(run, "CONFIG_LAKEHOUSE") == {"workspace": "DEV_WORKSPACE", "lakehouse": "lh_config"}
    assert _assigned(run, "TARGET_LAKEHOUSES") == [{"workspace": "DEV_WORKSPACE", "lakehouse": "lh_exports"}]
    assert "run_spark(" in run and "if not ON_FABRIC:" in run
    assert "raise_on_failure(selftest_rows)" in notebook.cells[-1].source
    # runtime.install: environment (the sample's default): the Spark self-test runs in the Environment
    assert notebook.environment is not None and not any('"pip"' in c.source for c in notebook.cells)
    for cell in notebook.cells:
        if cell.kind != "markdown" and not cell.is_magic:
            ast.parse(cell.source)


def test_a_python_group_adds_the_python_self_test(tmp_path: Path) -> None:
    root = write_project(tmp_path / "shop", groups={"ops.daily": {"engine": "python"}})
    rendered = render_project(load_project(root))
    assert {f for f in rendered.files if "selftest" in f} == SPARK_FILES | PYTHON_FILES
    notebook = from_fabric_py(rendered.files["fabgen_selftest_python.Notebook/notebook-content.py"])
    assert notebook.kernel == PYTHON_KERNEL and notebook.environment is None
    header = notebook.cells[0].source
    assert [m for m in re.findall(r"^\| `(\w+)` \|", header, re.M)] == [c.name for c in checks_for("python")]
    assert "RUNTIME_WHEEL" in notebook.cells[1].source  # installs in-line, as the python groups' notebooks
    assert "run_python(" in _code(notebook, "TARGET_LAKEHOUSES")
    platform = rendered.files["fabgen_selftest_python.Notebook/.platform"]
    assert '"displayName": "fabgen_selftest_python"' in platform and '"description": "fabgen: ' in platform


def test_every_render_writes_the_same_self_test_and_removes_a_stale_one(tmp_path: Path) -> None:
    root = write_project(tmp_path / "shop", groups={"ops.daily": {"engine": "python"}})
    whole = render_project(load_project(root))
    one_group = render_project(load_project(root), group="sales")  # the whole project, whatever --group says
    assert {f: one_group.files[f] for f in SPARK_FILES | PYTHON_FILES} == {
        f: whole.files[f] for f in SPARK_FILES | PYTHON_FILES
    }
    out = tmp_path / "out"
    write_output(whole, out)
    write_project(root, groups={})  # no python group any more
    report = dict((path, status) for path, status in write_output(render_project(load_project(root)), out))
    assert {path for path, status in report.items() if status == "removed"} == PYTHON_FILES
    assert (out / "fabgen_selftest.Notebook").is_dir() and not (
        out / "fabgen_selftest_python.Notebook"
    ).exists()


def test_an_environment_maps_the_lakehouses_and_attaches_the_config_lakehouse(tmp_path: Path) -> None:
    rendered = render_project(load_project(write_project(tmp_path / "shop")), environment="prod")
    notebook = from_fabric_py(rendered.files["fabgen_selftest.Notebook/notebook-content.py"])
    run = _code(notebook, "TARGET_LAKEHOUSES")
    assert _assigned(run, "CONFIG_LAKEHOUSE") == {
        "workspace": "PROD_WORKSPACE",
        "lakehouse": "lh_config_prod",
    }
    assert _assigned(run, "TARGET_LAKEHOUSES") == [{"workspace": "PROD_WORKSPACE", "lakehouse": "lh_exports"}]
    assert _assigned(run, "FABRIC_ITEMS")["lakehouses"]["PROD_WORKSPACE/lh_exports"] == {
        "id": "0b9a0000-0000-4000-8000-000000000004"
    }
    assert notebook.lakehouse is not None and notebook.lakehouse.default_lakehouse_name == "lh_config_prod"


def test_target_lakehouses_come_from_every_active_export(tmp_path: Path) -> None:
    other = [dict(EXPORTS[0], export_name="more", target_lakehouse="lh_other")]
    inactive = [dict(EXPORTS[0], export_name="off", target_lakehouse="lh_never", is_active=False)]
    root = write_project(tmp_path / "shop", [*EXPORTS, *other, *inactive])
    rendered = render_project(load_project(root))
    run = _code(
        from_fabric_py(rendered.files["fabgen_selftest.Notebook/notebook-content.py"]), "TARGET_LAKEHOUSES"
    )
    assert [t["lakehouse"] for t in _assigned(run, "TARGET_LAKEHOUSES")] == ["lh_exports", "lh_other"]


def test_the_example_project_gets_both() -> None:
    rendered = render_project(load_project(REPO / "examples" / "sales"))  # sales_py is a python group
    assert set(rendered.files) >= SPARK_FILES | PYTHON_FILES


# --------------------------------------------------------------------------- docs/runtimes.md


def _doc_table() -> list[tuple[str, str]]:
    text = (REPO / "docs" / "runtimes.md").read_text(encoding="utf-8")
    section = text.split("### Checked in a workspace: the self-test", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"^\| `(\w+)` \| (\w+) \|", section, re.M)


def test_docs_runtimes_lists_exactly_the_checks() -> None:
    """docs/runtimes.md's self-test table names every check of fabgen_runtime.selftest.CHECKS, in order,
    with the notebooks that run it."""
    kinds = {("spark",): "Spark", ("python",): "Python", ("spark", "python"): "both"}
    assert _doc_table() == [(check.name, kinds[check.engines]) for check in CHECKS]
