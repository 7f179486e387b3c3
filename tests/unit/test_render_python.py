"""``fabgen render`` of ``engine: python`` groups: Fabric Python notebooks (kernel ``jupyter``, no Spark)."""

from __future__ import annotations

import ast
import copy
import json
import os
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
CONFIG_WORKSPACE_ID = "7d1e0000-0000-4000-8000-000000000002"  # and its workspace's
WHEEL = f"fabgen_runtime-{fabgen_runtime.__version__}-py3-none-any.whl"


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


def _runtime_wheel(install: str) -> str:
    """The value the install cell assigns to ``RUNTIME_WHEEL``."""
    [value] = [
        ast.literal_eval(node.value)
        for node in ast.walk(ast.parse(install))
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["RUNTIME_WHEEL"]
    ]
    return value


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
    # prod gives the config lakehouse's ids: the wheel's OneLake URI in GUID form
    assert _runtime_wheel(install) == (
        f"abfss://{CONFIG_WORKSPACE_ID}@onelake.dfs.fabric.microsoft.com/{CONFIG_LAKEHOUSE_ID}"
        f"/Files/fabgen/wheels/{WHEEL}"
    )
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
    assert 'ExportLogger(CONFIG_LAKEHOUSE, auto_create_tables=True, engine="python")' in run
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


def test_python_group_needs_no_config_lakehouse_id(tmp_path: Path) -> None:
    """The install cell reads the wheel at its OneLake URI: no default lakehouse, so no id is needed."""
    environments = copy.deepcopy(PROJECT["environments"])
    del environments[PROD]["lakehouses"]["DEV_WORKSPACE/lh_config"]["id"]
    python = {"ops.daily": {"engine": "python"}}
    root = write_project(tmp_path / "shop", groups=python, environments=environments)
    rendered = render_project(load_project(root), group="ops.daily", environment=PROD)
    model = rendered.notebooks["ops_daily_eg3"]
    assert model.lakehouse is None  # no default lakehouse
    # only the workspace's id is known: OneLake's name form, with prod's names
    assert _runtime_wheel(model.cells[1].source) == (
        f"abfss://PROD_WORKSPACE@onelake.dfs.fabric.microsoft.com/lh_config_prod.Lakehouse/Files/fabgen/wheels/{WHEEL}"
    )
    render_project(load_project(root), group="sales", environment=PROD)  # spark: an Environment item
    # a Spark notebook's inline %pip reads the default lakehouse's mount: that one still needs the id
    inline = write_project(
        tmp_path / "inline", groups=python, environments=environments, runtime={"install": "inline"}
    )
    with pytest.raises(ConfigError, match="which a Spark notebook's inline installation needs"):
        render_project(load_project(inline), group="sales", environment=PROD)
    render_project(load_project(inline), group="ops.daily", environment=PROD)


def test_install_cell_without_env_runs_as_rendered(root: Path) -> None:
    """``render`` without ``--env``: the config lakehouse's name form, valid Python, nothing to fill in."""
    rendered = render_project(load_project(root))
    model = rendered.notebooks["ops_daily_eg3"]
    assert model.lakehouse is None
    install = model.cells[1].source
    uri = f"abfss://DEV_WORKSPACE@onelake.dfs.fabric.microsoft.com/lh_config.Lakehouse/Files/fabgen/wheels/{WHEEL}"
    assert _runtime_wheel(install) == uri
    compile(install, "install", "exec")
    assert "/lakehouse/default" not in install and "run_line_magic" not in install
    assert "{{" not in install and "<" not in install.split("RUNTIME_WHEEL = ")[1].splitlines()[0]
    # the same cell in both serializations
    ipynb = json.loads(rendered.files["ipynb/ops_daily_eg3.ipynb"])
    assert "".join(ipynb["cells"][1]["source"]) == install


def test_install_cell_copies_then_pips_and_checks_the_exit_status(root: Path) -> None:
    """On Fabric: notebookutils.fs.cp of the URI to a local file, then this Python's pip, exit checked."""
    install = render_project(load_project(root)).notebooks["ops_daily_eg3"].cells[1].source
    tree = ast.parse(install)
    [guard] = [n for n in tree.body if isinstance(n, ast.If)]
    assert ast.unparse(guard.test) == (
        "os.environ.get('FABGEN_PLATFORM') != 'local' and "
        "importlib.util.find_spec('notebookutils') is not None"
    )
    calls = {ast.unparse(n.func): n for n in ast.walk(guard) if isinstance(n, ast.Call)}
    copy_call = calls["notebookutils.fs.cp"]
    assert [ast.unparse(a) for a in copy_call.args] == ["RUNTIME_WHEEL", "'file:' + _local_wheel"]
    run = calls["subprocess.run"]
    command = ast.unparse(run.args[0])
    assert command.startswith("[sys.executable, '-m', 'pip', 'install'") and command.endswith("_local_wheel]")
    assert {k.arg: ast.unparse(k.value) for k in run.keywords}["check"] == "False"
    checks = [
        n for n in ast.walk(guard) if isinstance(n, ast.If) and ast.unparse(n.test) == "_pip.returncode != 0"
    ]
    assert len(checks) == 1 and isinstance(checks[0].body[0], ast.Raise)
    raised = ast.unparse(checks[0].body[0])
    assert "_pip.stdout" in raised and "_pip.stderr" in raised  # pip's output in the error
    # a Python notebook does not restart after an install: the comment says so, not the opposite
    assert "does not restart" in install and "Fabric restarts the Python interpreter" not in install


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
    assert "RUNTIME_WHEEL = " in model.cells[2].source  # then the in-line install
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


# --------------------------------------------------------------------------- the install cell, executed

STANDIN = Path(__file__).resolve().parents[1] / "support" / "fabric_standin"


def _run_first_cells(
    rendered_ipynb: str, tmp_path: Path, env: dict[str, str]
) -> tuple[object, Exception | None]:
    """Execute the notebook up to its setup cell in a fresh ``python3`` kernel; return it and the error."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.reads(rendered_ipynb, as_version=4)
    setup = next(i for i, c in enumerate(nb.cells) if "RUNTIME_VERSION = " in c.source)
    nb.cells = nb.cells[: setup + 1]  # header, install, parameters, setup
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    kernel_env = {k: v for k, v in os.environ.items() if k not in ("FABGEN_PLATFORM", "PYTHONPATH")}
    kernel_env.update(env)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute(env=kernel_env)
    except CellExecutionError as exc:
        return nb, exc
    return nb, None


def _fabric(tmp_path: Path) -> dict[str, str]:
    """A kernel on the Fabric branch: the stand-in's notebookutils, its OneLake folder; pip into a target."""
    return {
        "PYTHONPATH": str(STANDIN),
        "FABRIC_STANDIN_ONELAKE": str(tmp_path / "onelake"),
        "PIP_TARGET": str(tmp_path / "site"),  # never into the venv running the tests
        "PIP_NO_INDEX": "1",  # the wheel needs nothing else: nothing is fetched
    }


NAME_FORM = (
    f"abfss://DEV_WORKSPACE@onelake.dfs.fabric.microsoft.com/lh_config.Lakehouse/Files/fabgen/wheels/{WHEEL}"
)


def _put_wheel(tmp_path: Path, data: bytes, uri: str = NAME_FORM) -> Path:
    """``data`` where the stand-in's OneLake serves ``uri`` (``<onelake>/<workspace>/<path>``)."""
    workspace, _, path = uri.removeprefix("abfss://").partition("@onelake.dfs.fabric.microsoft.com/")
    target = tmp_path / "onelake" / workspace / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def _executed(nb: object) -> list[int | None]:
    return [c.get("execution_count") for c in nb.cells if c.cell_type == "code"]  # type: ignore[attr-defined]


@pytest.mark.spark  # integration: a Jupyter kernel and a child pip
@pytest.mark.parametrize("env", [None, PROD])  # name form (no ids), GUID form (prod gives both ids)
def test_install_cell_on_the_fabric_branch_installs_the_wheel(
    root: Path, tmp_path: Path, env: str | None
) -> None:
    from fabgen.wheel import cached_runtime_wheel

    wheel = cached_runtime_wheel()
    model = render_project(load_project(root), environment=env)
    uri = _runtime_wheel(model.notebooks["ops_daily_eg3"].cells[1].source)
    assert uri == NAME_FORM if env is None else uri.startswith(f"abfss://{CONFIG_WORKSPACE_ID}@")
    _put_wheel(tmp_path, wheel.path.read_bytes(), uri)
    rendered = model.files["ipynb/ops_daily_eg3.ipynb"]
    nb, error = _run_first_cells(rendered, tmp_path, _fabric(tmp_path))
    assert error is None, error
    assert all(_executed(nb)), "every cell up to the setup ran"
    installed = tmp_path / "site"
    assert (installed / "fabgen_runtime" / "__init__.py").is_file()
    assert (installed / f"fabgen_runtime-{fabgen_runtime.__version__}.dist-info").is_dir()
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs)  # type: ignore[attr-defined]
    assert f"installed {WHEEL} from {uri}" in printed


@pytest.mark.spark  # integration: a Jupyter kernel and a child pip
def test_a_failed_pip_stops_the_notebook_at_the_install_cell(root: Path, tmp_path: Path) -> None:
    _put_wheel(tmp_path, b"not a wheel")  # copied fine; pip refuses it
    rendered = render_project(load_project(root)).files["ipynb/ops_daily_eg3.ipynb"]
    nb, error = _run_first_cells(rendered, tmp_path, _fabric(tmp_path))
    assert error is not None
    message = str(error)
    assert "RuntimeError" in message and "failed with exit status 1" in message, message
    assert "ERROR:" in message  # pip's own output is shown
    executed = _executed(nb)
    assert executed[0] is not None and not any(executed[1:]), executed  # nothing after the install ran
    assert not (tmp_path / "site" / "fabgen_runtime").exists()


@pytest.mark.spark  # integration: a Jupyter kernel
def test_a_missing_wheel_stops_the_notebook_naming_its_uri(root: Path, tmp_path: Path) -> None:
    rendered = render_project(load_project(root)).files["ipynb/ops_daily_eg3.ipynb"]
    nb, error = _run_first_cells(rendered, tmp_path, _fabric(tmp_path))
    assert error is not None
    uri = NAME_FORM
    assert f"cannot copy the fabgen runtime wheel from {uri} (`fabgen deploy` uploads it there)" in str(error)
    executed = _executed(nb)
    assert executed[0] is not None and not any(executed[1:]), executed


@pytest.mark.spark  # integration: a Jupyter kernel
def test_install_cell_does_nothing_on_local_fabric(root: Path, tmp_path: Path) -> None:
    """Locally (FABGEN_PLATFORM=local, as nbval runs the notebooks) the venv's runtime is used as it is."""
    rendered = render_project(load_project(root)).files["ipynb/ops_daily_eg3.ipynb"]
    nb, error = _run_first_cells(rendered, tmp_path, {**_fabric(tmp_path), "FABGEN_PLATFORM": "local"})
    assert error is None, error
    assert all(_executed(nb)) and not nb.cells[1].outputs  # type: ignore[attr-defined]
    assert not (tmp_path / "site").exists()
