"""``fabgen render`` of ``engine: python`` groups: Fabric Python notebooks (kernel ``jupyter``, no Spark)."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import fabgen_runtime
import pytest
from click.testing import CliRunner
from fabgen.cli import main
from fabgen.notebook import KERNEL, PYTHON_KERNEL, from_fabric_py, from_ipynb, to_fabric_py, to_ipynb
from fabgen.project import load_project
from fabgen.render import render_project
from fabgen_runtime.errors import ConfigError
from sample_projects import EXPORTS, PROJECT, write_project

PROD = "prod"
CONFIG_LAKEHOUSE_ID = "0b9a0000-0000-4000-8000-000000000003"  # sample_projects: prod's lh_config id


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return write_project(tmp_path / "shop", groups={"ops.daily": {"engine": "python"}})


def _meta_blocks(text: str) -> list[dict]:
    """Every ``# META`` JSON block of a notebook-content.py, in order."""
    blocks, current = [], None
    for line in text.split("\n"):
        if line.startswith("# META ") or line == "# META":
            current = [] if current is None else current
            current.append(line[len("# META") :])
        elif current is not None:
            blocks.append(json.loads("\n".join(current)))
            current = None
    return blocks


def test_python_group_is_a_fabric_python_notebook(root: Path) -> None:
    rendered = render_project(load_project(root), environment=PROD)
    text = rendered.files["ops_daily_eg3.Notebook/notebook-content.py"]
    header, *cells = _meta_blocks(text)
    assert header["kernel_info"] == {"name": "jupyter", "jupyter_kernel_name": "python3.12"}
    assert "environment" not in header["dependencies"]  # a Python notebook attaches no Environment item
    assert header["dependencies"]["lakehouse"]["default_lakehouse"] == CONFIG_LAKEHOUSE_ID
    assert cells and all(c == {"language": "python", "language_group": "jupyter_python"} for c in cells)

    ipynb = json.loads(rendered.files["ipynb/ops_daily_eg3.ipynb"])
    assert ipynb["metadata"]["kernel_info"]["name"] == "jupyter"
    assert ipynb["metadata"]["kernelspec"]["name"] == "python3"  # run locally by the venv's ipykernel
    code = [c for c in ipynb["cells"] if c["cell_type"] == "code"]
    assert all(c["metadata"]["microsoft"]["language_group"] == "jupyter_python" for c in code)

    # the spark groups are untouched
    spark = _meta_blocks(rendered.files["sales_eg1.Notebook/notebook-content.py"])
    assert spark[0]["kernel_info"] == {"name": KERNEL}
    assert all(c["language_group"] == KERNEL for c in spark[1:])


def test_round_trip_keeps_the_engine(root: Path) -> None:
    rendered = render_project(load_project(root))
    for name, model in rendered.notebooks.items():
        kernel = PYTHON_KERNEL if name.startswith("ops_daily") else KERNEL
        assert model.kernel == kernel
        from_py = from_fabric_py(rendered.files[f"{name}.Notebook/notebook-content.py"])
        from_nb = from_ipynb(rendered.files[f"ipynb/{name}.ipynb"])
        assert from_py == model and from_nb.kernel == kernel and from_nb.cells == model.cells
        assert to_fabric_py(from_py) == rendered.files[f"{name}.Notebook/notebook-content.py"]
        assert to_ipynb(from_nb) == rendered.files[f"ipynb/{name}.ipynb"]


def test_cells_install_inline_and_start_no_spark(root: Path) -> None:
    rendered = render_project(load_project(root), environment=PROD)
    python, spark = rendered.notebooks["ops_daily_eg3"], rendered.notebooks["sales_eg1"]
    kinds = ["markdown", "code", "parameters", "code", "code", "code", "code"]
    assert [c.kind for c in python.cells] == kinds
    install, parameters, setup, configs, run, result = (c.source for c in python.cells[1:])
    wheel = f"/lakehouse/default/Files/fabgen/wheels/fabgen_runtime-{fabgen_runtime.__version__}-py3-none-any"
    wheel += ".whl"
    assert f'get_ipython().run_line_magic("pip", "install --quiet {wheel}")' in install
    assert 'engine is "python"' in install
    # the same parameters, configs and result cells as a spark notebook of the same rows
    assert parameters == spark.cells[1].source
    assert result == spark.cells[-1].source.replace("sales_eg1", "ops_daily_eg3")
    assert "EXPORT_ROWS = " in configs and "configs = fabgen_runtime.parse_configs(EXPORT_ROWS)" in configs
    for source in (setup, configs, run):  # no name or import mentions Spark
        tree = ast.parse(source)
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        names |= {a.name for n in imports for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not [n for n in names if "spark" in n.lower()], names
    assert "PythonExportLogger(CONFIG_LAKEHOUSE, auto_create_tables=True)" in run
    assert "ExportOrchestrator(None, export_logger, max_concurrency=int(max_concurrency))" in run
    assert "spark" not in run.split("orchestrator = ")[1]


def test_pipeline_enables_inline_installation_for_python_groups_only(root: Path) -> None:
    rendered = render_project(load_project(root), environment=PROD)

    def activity_parameters(group: str) -> list[dict]:
        pipeline = json.loads(rendered.files[f"{group}_pipeline.DataPipeline/pipeline-content.json"])
        return [a["typeProperties"]["parameters"] for a in pipeline["properties"]["activities"]]

    assert all(p["_inlineInstallationEnabled"]["value"] is True for p in activity_parameters("ops_daily"))
    assert all("_inlineInstallationEnabled" not in p for p in activity_parameters("sales"))
    # the spark groups still get the Environment item
    assert rendered.notebooks["sales_eg1"].environment is not None
    assert any(p.endswith(".Environment/.platform") for p in rendered.files)


def test_python_group_needs_the_config_lakehouse_id_for_an_environment(tmp_path: Path) -> None:
    environments = copy.deepcopy(PROJECT["environments"])
    del environments[PROD]["lakehouses"]["DEV_WORKSPACE/lh_config"]["id"]
    python = {"ops.daily": {"engine": "python"}}
    root = write_project(tmp_path / "shop", groups=python, environments=environments)
    with pytest.raises(ConfigError, match="which inline installation needs"):
        render_project(load_project(root), group="ops.daily", environment=PROD)
    render_project(load_project(root), group="sales", environment=PROD)  # spark: an Environment item


def test_project_override_of_a_shared_cell_applies_to_python_notebooks(root: Path) -> None:
    (root / "templates" / "cells").mkdir(parents=True)
    (root / "templates" / "cells" / "result.py.j2").write_text('{{ cell("code") }}\nprint("custom result")\n')
    rendered = render_project(load_project(root))
    assert rendered.notebooks["ops_daily_eg3"].cells[-1].source == 'print("custom result")'
    assert rendered.notebooks["sales_eg1"].cells[-1].source == 'print("custom result")'


def test_vcores_configure_cell_and_pipeline_parameter(tmp_path: Path) -> None:
    groups = {"ops.daily": {"engine": "python", "vcores": 8}}
    rendered = render_project(load_project(write_project(tmp_path / "shop", groups=groups)))
    model = rendered.notebooks["ops_daily_eg3"]
    # %%configure -f comes first: it restarts the session, so nothing before it would survive
    configure = model.cells[1]
    assert configure.kind == "code" and configure.is_magic
    first, _, body = configure.source.partition("\n")
    assert first == "%%configure -f"
    assert json.loads(body) == {"vCores": {"parameterName": "vcores", "defaultValue": 8}}
    assert "run_line_magic" in model.cells[2].source  # then the in-line install
    text = rendered.files["ops_daily_eg3.Notebook/notebook-content.py"]
    assert "# MAGIC %%configure -f\n" in text
    assert from_fabric_py(text) == model
    pipeline = json.loads(rendered.files["ops_daily_pipeline.DataPipeline/pipeline-content.json"])
    assert pipeline["properties"]["parameters"]["vcores"] == {"type": "int", "defaultValue": 8}
    [activity] = pipeline["properties"]["activities"]
    passed = activity["typeProperties"]["parameters"]["vcores"]
    assert passed == {
        "value": {"value": "@pipeline().parameters.vcores", "type": "Expression"},
        "type": "int",
    }
    # without vcores: no configure cell, no parameter; spark groups never get one
    assert not any(c.source.startswith("%%configure") for c in rendered.notebooks["sales_eg1"].cells)
    sales = json.loads(rendered.files["sales_pipeline.DataPipeline/pipeline-content.json"])
    assert "vcores" not in sales["properties"]["parameters"]


@pytest.mark.parametrize(
    ("groups", "field", "message"),
    [
        ({"sales": {"vcores": 8}}, "groups.sales.vcores", "applies to engine: python groups only"),
        (
            {"sales": {"engine": "python", "vcores": 6}},
            "groups.sales.vcores",
            "Input should be 4, 8, 16, 32 or 64",
        ),
    ],
)
def test_bad_vcores(tmp_path: Path, groups: dict, field: str, message: str) -> None:
    rows = [r for r in EXPORTS if r["export_group_name"] == "sales" and r["source_type"] == "lakehouse"]
    with pytest.raises(ConfigError) as caught:
        load_project(write_project(tmp_path / "shop", rows, groups=groups))
    [issue] = caught.value.issues
    assert (issue.field, issue.message) == (field, message)


# The values Microsoft documents for a Python notebook's %%configure "vCores" (Learn, "Use Python
# experience on Notebook", Session configuration magic command): 4, 8, 16, 32, 64. 2 is Fabric's default
# (leave vcores out for it); a string from YAML ("16") is not coerced.
@pytest.mark.parametrize("vcores", [2, 6, 128, 0, -4, "16", True, 16.5])
def test_validate_refuses_a_vcores_fabric_does_not_document(tmp_path: Path, vcores: object) -> None:
    root = write_project(tmp_path / "shop", groups={"ops.daily": {"engine": "python", "vcores": vcores}})
    out = tmp_path / "out"
    for args in (["validate"], ["render", "--out", str(out)]):
        result = CliRunner().invoke(main, [*args, "-p", str(root)])
        assert result.exit_code == 2, result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
        assert errors == ["Error: fabgen.yaml groups.ops.daily.vcores: Input should be 4, 8, 16, 32 or 64"]
    assert not out.exists()


@pytest.mark.parametrize("vcores", [4, 8, 16, 32, 64])
def test_validate_accepts_every_documented_vcores(tmp_path: Path, vcores: int) -> None:
    root = write_project(tmp_path / "shop", groups={"ops.daily": {"engine": "python", "vcores": vcores}})
    result = CliRunner().invoke(main, ["validate", "-p", str(root)])
    assert result.exit_code == 0, result.output
    model = render_project(load_project(root)).notebooks["ops_daily_eg3"]
    body = model.cells[1].source.partition("\n")[2]
    assert json.loads(body) == {"vCores": {"parameterName": "vcores", "defaultValue": vcores}}
