"""``fabgen render``: the notebooks' cells, environments, template overrides, determinism and the CLI."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import fabgen_runtime
import pytest
from click.testing import CliRunner
from fabgen import __version__
from fabgen.cli import main
from fabgen.notebook import KERNEL, Notebook, from_fabric_py, from_ipynb
from fabgen.project import load_project
from fabgen.render import TemplateError, check_output, render_project, write_output
from fabgen_runtime.errors import ConfigError, ExportError
from sample_projects import EXPORTS, write_project

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return write_project(tmp_path / "shop")


def _notebook(rendered, name: str) -> Notebook:
    return from_fabric_py(rendered.files[f"{name}.Notebook/notebook-content.py"])


def _assigned(source: str, name: str):
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned in the cell")


def test_one_notebook_per_execution_group_with_cells_in_order(root: Path) -> None:
    rendered = render_project(load_project(root))
    assert sorted(rendered.notebooks) == ["ops_daily_eg3", "sales_eg1", "sales_eg2"]
    assert rendered.groups == ["ops.daily", "sales"]
    wheel = f"fabgen_runtime-{fabgen_runtime.__version__}-py3-none-any.whl"
    assert sorted(rendered.files) == [
        "fabgen_selftest.Notebook/.platform",  # the self-test (fabgen.selftest_render; no python group here)
        "fabgen_selftest.Notebook/notebook-content.py",
        "ipynb/fabgen_selftest.ipynb",
        "ipynb/ops_daily_eg3.ipynb",
        "ipynb/sales_eg1.ipynb",
        "ipynb/sales_eg2.ipynb",
        "ops_daily_eg3.Notebook/.platform",
        "ops_daily_eg3.Notebook/notebook-content.py",
        "ops_daily_pipeline.DataPipeline/.platform",
        "ops_daily_pipeline.DataPipeline/pipeline-content.json",
        "sales_eg1.Notebook/.platform",
        "sales_eg1.Notebook/notebook-content.py",
        "sales_eg2.Notebook/.platform",
        "sales_eg2.Notebook/notebook-content.py",
        "sales_pipeline.DataPipeline/.platform",
        "sales_pipeline.DataPipeline/pipeline-content.json",
        "shop_env.Environment/.platform",
        f"shop_env.Environment/Libraries/CustomLibraries/{wheel}",
        "shop_env.Environment/Setting/Sparkcompute.yml",
    ]
    for name, model in rendered.notebooks.items():
        assert [c.kind for c in model.cells] == ["markdown", "parameters", "code", "code", "code", "code"]
        # The .py and the .ipynb hold the same notebook.
        assert _notebook(rendered, name) == model
        assert from_ipynb(rendered.files[f"ipynb/{name}.ipynb"]) == model


def test_header_describes_the_execution_group(root: Path) -> None:
    header = render_project(load_project(root)).notebooks["sales_eg1"].cells[0].source
    assert header.startswith("# sales: execution group 1\n")
    assert "| export | source | extract | target | format |" in header
    assert (
        "| `customers` | lakehouse `lh_gold`: `dbo.customers` | full | "
        "`lh_exports`: `Files/sales/customers/customers_{run_date:%Y%m%d}.csv` | csv, gzip |"
    ) in header
    assert "| `products` | lakehouse `lh_gold`: `dbo.products` | full | " in header
    assert "| parquet, snappy |" in header
    assert "orders" not in header  # execution group 2
    assert f"fabgen {__version__}" in header and f"fabgen-runtime {fabgen_runtime.__version__}" in header
    assert "Do not edit" in header
    header2 = render_project(load_project(root)).notebooks["sales_eg2"].cells[0].source
    assert "| `orders` | warehouse `wh_sales`: query | full |" in header2
    assert "step 2 of 2 in pipeline `sales_pipeline`" in header2


def test_parameters_cell(root: Path) -> None:
    cell = render_project(load_project(root)).notebooks["sales_eg1"].cells[1]
    assert cell.kind == "parameters"
    namespace: dict = {}
    exec(cell.source, namespace)
    values = {k: v for k, v in namespace.items() if not k.startswith("__")}
    assert values == {
        "run_date": "",
        "execution_id": "",
        "is_retry": False,
        "timezone": "Australia/Sydney",
        "max_concurrency": 3,
    }


def test_embedded_rows_are_the_execution_groups_configs(root: Path) -> None:
    project = load_project(root)
    rendered = render_project(project)
    for name, eg, expected in (("sales_eg1", 1, {"customers", "products"}), ("sales_eg2", 2, {"orders"})):
        cell = rendered.notebooks[name].cells[3]
        rows = _assigned(cell.source, "EXPORT_ROWS")
        assert {row["export_name"] for row in rows} == expected
        configs = fabgen_runtime.parse_configs(rows)
        assert configs == [
            c
            for c in sorted(project.configs, key=lambda c: c.export_name)
            if c.export_group_name == "sales" and c.execution_group == eg and c.is_active
        ]
        lakehouse = _assigned(cell.source, "CONFIG_LAKEHOUSE")
        assert lakehouse == {"workspace": "DEV_WORKSPACE", "lakehouse": "lh_config"}
        assert "fabgen_runtime.parse_configs(EXPORT_ROWS)" in cell.source
    # Readable: a multi-line query stays one line per source line.
    orders = rendered.notebooks["sales_eg2"].cells[3].source
    assert '"SELECT o.order_id, o.amount\\n"\n' in orders


def test_run_cell_calls_the_orchestrator(root: Path) -> None:
    source = render_project(load_project(root)).notebooks["sales_eg1"].cells[4].source
    tree = ast.parse(source)
    calls = {ast.unparse(node.func): node for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert "ExportLogger(CONFIG_LAKEHOUSE, auto_create_tables=True)" in source
    process = calls["orchestrator.process_exports"]
    # the group's embedded rows and the run's id, then every run parameter of the parameters cell
    assert [ast.unparse(a) for a in process.args] == ["configs", "execution_id"]
    assert {k.arg for k in process.keywords} == {"run_date", "timezone", "is_retry"}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    parameters = render_project(load_project(root)).notebooks["sales_eg1"].cells[1].source
    assigned = {t.id for n in ast.walk(ast.parse(parameters)) if isinstance(n, ast.Assign) for t in n.targets}
    assert assigned and assigned <= used, f"parameters the run cell ignores: {assigned - used}"
    orchestrator = calls["ExportOrchestrator"]
    assert [ast.unparse(a) for a in orchestrator.args] == ["spark", "export_logger"]


def _run_result_cell(source: str, result: dict) -> dict:
    namespace = {"result": result, "json": json, "fabgen_runtime": fabgen_runtime, "ON_FABRIC": False}
    exec(source, namespace)
    return namespace


def test_result_cell_raises_when_an_export_failed(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = render_project(load_project(root)).notebooks["sales_eg1"].cells[5].source
    ok = {
        "success": True,
        "total_exports": 1,
        "successful": 1,
        "failed": 0,
        "results": [
            {
                "export_name": "customers",
                "status": "success",
                "rows_exported": 10,
                "files_created": 1,
                "duration": 1.5,
                "error": None,
            },
        ],
    }
    _run_result_cell(source, ok)
    out = capsys.readouterr().out
    assert "customers" in out and "1 of 1 export(s) succeeded" in out
    assert json.loads(out.strip().splitlines()[-1]) == ok
    failed = {
        **ok,
        "success": False,
        "successful": 0,
        "failed": 1,
        "results": [
            {"export_name": "customers", "status": "error", "error": "boom"},
            {"export_name": "products", "status": "skipped"},
        ],
    }
    message = r"2 export\(s\) did not succeed: customers \(error\), products \(skipped\)"
    with pytest.raises(ExportError, match=message):
        _run_result_cell(source, failed)
    # notebookutils.notebook.exit is called on Fabric, and never inside try/except.
    tree = ast.parse(source)
    calls = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    exits = [call for call in calls if call == "notebookutils.notebook.exit"]
    assert len(exits) == 1
    assert not any(isinstance(n, ast.Try) for n in ast.walk(tree))


def test_setup_cell_fails_fast_on_another_runtime(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fabgen_runtime, "__version__", "9.9.9")
    source = render_project(load_project(root)).notebooks["sales_eg1"].cells[2].source
    monkeypatch.undo()
    assert 'RUNTIME_VERSION = "9.9.9"' in source
    with pytest.raises(RuntimeError, match=r"rendered for fabgen-runtime 9\.9\.9 but 0\.1\.0 is installed"):
        exec(source, {"get_ipython": None})
    assert "run_line_magic" not in source  # runtime.install: environment installs nothing


def test_inline_install(tmp_path: Path) -> None:
    root = write_project(tmp_path / "shop", runtime={"install": "inline", "wheel_path": "Files/libs/"})
    rendered = render_project(load_project(root), environment="prod")
    model = rendered.notebooks["sales_eg1"]
    # The install is the first code cell: Fabric restarts the interpreter after an in-line %pip.
    assert [c.kind for c in model.cells] == ["markdown", "code", "parameters", "code", "code", "code", "code"]
    install = model.cells[1].source
    wheel = f"/lakehouse/default/Files/libs/fabgen_runtime-{fabgen_runtime.__version__}-py3-none-any.whl"
    assert f'get_ipython().run_line_magic("pip", "install --quiet {wheel}")' in install
    on_fabric = 'os.environ.get("FABGEN_PLATFORM") != "local" and importlib.util.find_spec("notebookutils")'
    assert on_fabric in install
    assert "run_line_magic" not in model.cells[3].source
    assert model.environment is None
    assert not any(p.endswith(".Environment/.platform") for p in rendered.files)  # no Environment item
    # The wheel comes from the default lakehouse: the config lakehouse, attached by id.
    assert model.lakehouse is not None
    assert model.lakehouse.default_lakehouse == "0b9a0000-0000-4000-8000-000000000003"
    env_model = render_project(load_project(write_project(tmp_path / "env"))).notebooks["sales_eg1"]
    assert env_model.environment is not None


def test_metadata_carries_kernel_and_default_lakehouse(root: Path) -> None:
    # Without an environment no lakehouse id is known, and none is made up: no default lakehouse.
    rendered = render_project(load_project(root))
    for name in rendered.notebooks:
        model = _notebook(rendered, name)
        assert model.kernel == KERNEL
        assert model.lakehouse is None
        ipynb = json.loads(rendered.files[f"ipynb/{name}.ipynb"])
        assert ipynb["metadata"]["kernelspec"]["name"] == KERNEL
        assert "lakehouse" not in ipynb["metadata"]["dependencies"]
    rendered = render_project(load_project(root), environment="prod")
    for name in rendered.notebooks:
        ipynb = json.loads(rendered.files[f"ipynb/{name}.ipynb"])
        assert ipynb["metadata"]["dependencies"]["lakehouse"]["default_lakehouse_name"] == "lh_config_prod"
        assert ipynb["metadata"]["language_info"]["name"] == "python"


def test_environment_maps_names_and_ids(root: Path) -> None:
    rendered = render_project(load_project(root), environment="prod")
    model = rendered.notebooks["sales_eg2"]
    rows = _assigned(model.cells[3].source, "EXPORT_ROWS")
    assert rows[0]["source_workspace"] == "PROD_WORKSPACE" and rows[0]["target_workspace"] == "PROD_WORKSPACE"
    assert rows[0]["source_datastore"] == "wh_sales_prod"
    assert _assigned(model.cells[3].source, "CONFIG_LAKEHOUSE") == {
        "workspace": "PROD_WORKSPACE",
        "lakehouse": "lh_config_prod",
    }
    assert model.lakehouse is not None
    assert model.lakehouse.default_lakehouse == "0b9a0000-0000-4000-8000-000000000003"
    assert model.lakehouse.default_lakehouse_name == "lh_config_prod"
    assert model.lakehouse.default_lakehouse_workspace_id == "7d1e0000-0000-4000-8000-000000000002"
    assert model.lakehouse.known_lakehouses == (
        "0b9a0000-0000-4000-8000-000000000003",
        "0b9a0000-0000-4000-8000-000000000004",
    )
    assert "environment `prod`" in model.cells[0].source
    # Logical ids do not depend on the environment.
    plain = render_project(load_project(root))
    assert plain.files["sales_eg2.Notebook/.platform"] == rendered.files["sales_eg2.Notebook/.platform"]
    with pytest.raises(ConfigError, match="no environment 'nope'"):
        render_project(load_project(root), environment="nope")


def test_render_is_deterministic(root: Path, tmp_path: Path) -> None:
    first = render_project(load_project(root)).files
    copy = write_project(tmp_path / "copy")
    assert render_project(load_project(copy)).files == first
    out = tmp_path / "out"
    report = write_output(render_project(load_project(root)), out)
    assert {status for _path, status in report} == {"created"}
    again = write_output(render_project(load_project(root)), out)
    assert {status for _path, status in again} == {"unchanged"}
    assert check_output(render_project(load_project(root)), out) == []
    for path, content in first.items():
        expected = content if isinstance(content, bytes) else content.encode("utf-8")
        assert (out / path).read_bytes() == expected


def test_template_override(root: Path) -> None:
    default = render_project(load_project(root)).notebooks["sales_eg1"]
    (root / "templates" / "cells").mkdir(parents=True)
    (root / "templates" / "cells" / "header.md.j2").write_text(
        '{{ cell("markdown") }}\n# Custom header for {{ group }} / {{ execution_group }}\n'
    )
    custom = render_project(load_project(root)).notebooks["sales_eg1"]
    assert custom.cells[0].source == "# Custom header for sales / 1"
    assert custom.cells[1:] == default.cells[1:]
    # Overriding the notebook template adds a cell and keeps including the shared ones.
    (root / "templates" / "notebook.j2").write_text(
        '{% include "cells/header.md.j2" %}\n{% include "cells/parameters.py.j2" %}\n'
        '{{ cell("code") }}\nprint("extra")\n{% include "cells/setup.py.j2" %}\n'
    )
    cells = render_project(load_project(root)).notebooks["sales_eg1"].cells
    expected = [custom.cells[0].source, default.cells[1].source, 'print("extra")']
    assert [c.source for c in cells[:3]] == expected


def test_templates_use_strict_undefined(root: Path) -> None:
    (root / "templates").mkdir()
    (root / "templates" / "notebook.j2").write_text('{{ cell("parameters") }}\nx = {{ no_such_value }}\n')
    with pytest.raises(TemplateError, match="no_such_value"):
        render_project(load_project(root))
    (root / "templates" / "notebook.j2").write_text("text outside a cell\n")
    with pytest.raises(TemplateError, match="before the first cell"):
        render_project(load_project(root))


# --------------------------------------------------------------------------- CLI


def test_cli_render_writes_and_checks(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(main, ["render", "-p", str(root), "--group", "sales", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "created" in result.output and "sales_eg1.Notebook/notebook-content.py" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "fabgen_selftest.Notebook",
        "ipynb",
        "sales_eg1.Notebook",
        "sales_eg2.Notebook",
        "sales_pipeline.DataPipeline",
        "shop_env.Environment",
    ]
    check = runner.invoke(main, ["render", "-p", str(root), "--group", "sales", "--out", str(out), "--check"])
    assert check.exit_code == 0, check.output
    # A hand edit is drift.
    content = out / "sales_eg1.Notebook" / "notebook-content.py"
    content.write_text(content.read_text() + "\n# edited\n")
    check = runner.invoke(main, ["render", "-p", str(root), "--group", "sales", "--out", str(out), "--check"])
    assert check.exit_code == 1 and "differs" in check.output
    # Default output folder: the project's `output`.
    result = runner.invoke(main, ["render", "-p", str(root)])
    assert result.exit_code == 0, result.output
    assert (root / "generated" / "ops_daily_eg3.Notebook" / ".platform").is_file()


def test_cli_removes_stale_execution_groups(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(main, ["render", "-p", str(root), "--out", str(out)]).exit_code == 0
    moved = [{**row, "execution_group": 1} if row["export_name"] == "orders" else row for row in EXPORTS]
    write_project(root, moved)
    check = runner.invoke(main, ["render", "-p", str(root), "--out", str(out), "--check"])
    assert check.exit_code == 1 and "stale" in check.output
    result = runner.invoke(main, ["render", "-p", str(root), "--out", str(out)])
    assert result.exit_code == 0 and "removed" in result.output
    assert not (out / "sales_eg2.Notebook").exists() and not (out / "ipynb" / "sales_eg2.ipynb").exists()
    assert (out / "ops_daily_eg3.Notebook").is_dir()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--group", "nope"], "no active group 'nope'"),
        (["--env", "staging"], "no environment 'staging'"),
    ],
)
def test_cli_usage_errors_exit_2(root: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["render", "-p", str(root), "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "out").exists()


def test_invalid_config_refuses_to_render(root: Path, tmp_path: Path) -> None:
    broken = [dict(EXPORTS[0], file_format="xml", compression_level=42), *EXPORTS[1:]]
    write_project(root, broken)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", "-p", str(root), "--out", str(out)])
    assert result.exit_code == 2
    assert "file_format" in result.output and "compression_level" in result.output
    assert not out.exists()


def test_generated_folder_matches_a_fresh_render() -> None:
    """``generated/`` is the example project's rendered output: re-render after changing anything."""
    rendered = render_project(load_project(REPO / "examples" / "sales"))
    problems = check_output(rendered, REPO / "generated")
    assert problems == [], (
        "generated/ is out of date; run: fabgen render -p examples/sales --out generated\n"
        + "\n".join(f"  {status}: {path}" for path, status in problems)
    )
