"""A rendered folder is complete and self-consistent: every id it names is an item of the folder
(by logicalId), the deployment workspace (the all-zero GUID), or an id ``fabgen.yaml`` supplies."""

from __future__ import annotations

import ast
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fabgen.cli import main
from fabgen.notebook import ZERO_GUID, from_fabric_py
from fabgen.project import load_project
from fabgen.render import render_project
from fabgen_runtime.errors import ConfigError
from sample_projects import write_project

REPO = Path(__file__).resolve().parents[2]
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _supplied(settings, env: str | None) -> set[str]:
    """Every id fabgen.yaml gives for ``env`` (none without an environment)."""
    if env is None:
        return set()
    environment = settings.environments[env]
    ids = {environment.workspace_id} if environment.workspace_id else set()
    for table in (environment.workspaces, environment.lakehouses, environment.warehouses):
        ids |= {i.id for i in table.values() if i.id}
    return ids


def _assigned(source: str, name: str):
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned")


def check_folder(files: dict[str, str | bytes], supplied: set[str]) -> dict[str, tuple[str, str]]:
    """Assert the folder's references resolve; return its items by logicalId."""
    items = {}
    for path, text in files.items():
        if path.endswith("/.platform"):
            platform = json.loads(text)
            items[platform["config"]["logicalId"]] = (platform["metadata"]["type"], path.split("/")[0])
    of_type = {kind: {i for i, (t, _) in items.items() if t == kind} for kind in ("Notebook", "Environment")}
    allowed = set(items) | supplied | {ZERO_GUID}
    for path, content in files.items():
        if isinstance(content, bytes):
            continue
        # No GUID in any rendered text that is not an item here, the workspace, or a supplied id.
        stray = set(GUID.findall(content)) - allowed
        assert not stray, f"{path} names ids that nothing supplies: {sorted(stray)}"
        if path.endswith("/notebook-content.py"):
            model = from_fabric_py(content)
            if model.environment is not None:
                assert model.environment.environment_id in of_type["Environment"], path
                assert model.environment.workspace_id == ZERO_GUID
            if model.lakehouse is not None:
                lakehouse = model.lakehouse
                assert {lakehouse.default_lakehouse, *lakehouse.known_lakehouses} <= supplied, path
                assert lakehouse.default_lakehouse_workspace_id in supplied | {ZERO_GUID}, path
            cell = next(c.source for c in model.cells if "FABRIC_ITEMS =" in c.source)
            catalog = _assigned(cell, "FABRIC_ITEMS")
            ids = set(catalog.get("workspaces", {}).values())
            for section in ("lakehouses", "warehouses"):
                ids |= {v["id"] for v in catalog.get(section, {}).values() if "id" in v}
            assert ids <= supplied, path
        if path.endswith("/pipeline-content.json"):
            for activity in json.loads(content)["properties"]["activities"]:
                assert activity["typeProperties"]["notebookId"] in of_type["Notebook"], path
                assert activity["typeProperties"]["workspaceId"] == ZERO_GUID
    return items


def check_environment_item(files: dict[str, str | bytes], runtime_version: str, spark_runtime: str) -> None:
    """The Environment item holds the wheel the notebooks were rendered for, and the Spark runtime."""
    wheels = {p: c for p, c in files.items() if p.endswith(".whl")}
    assert len(wheels) == 1
    ((path, data),) = wheels.items()
    assert "/Libraries/CustomLibraries/" in path
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        metadata = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        assert f"Version: {runtime_version}" in zf.read(metadata).decode()
        assert "fabgen_runtime/catalog.py" in zf.namelist()
    compute = yaml.safe_load(next(c for p, c in files.items() if p.endswith("/Setting/Sparkcompute.yml")))
    assert compute["runtime_version"] == float(spark_runtime)
    for path, content in files.items():
        if path.endswith("/notebook-content.py"):
            assert f'RUNTIME_VERSION = "{runtime_version}"' in content


@pytest.mark.parametrize("env", [None, "dev"])
def test_the_example_renders_a_complete_folder(env: str | None) -> None:
    project = load_project(REPO / "examples" / "sales")
    rendered = render_project(project, environment=env)
    items = check_folder(rendered.files, _supplied(project.settings, env))
    kinds = sorted(kind for kind, _ in items.values())
    # 5 group notebooks (sales_py: a Python notebook) and the self-tests fabgen_selftest(_python)
    assert kinds == ["DataPipeline"] * 3 + ["Environment"] + ["Notebook"] * 7
    import fabgen_runtime

    check_environment_item(rendered.files, fabgen_runtime.__version__, project.settings.runtime.spark_runtime)


def test_an_environment_with_ids_attaches_the_config_lakehouse(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path / "shop"))
    rendered = render_project(project, environment="prod")
    check_folder(rendered.files, _supplied(project.settings, "prod"))
    model = rendered.notebooks["sales_eg1"]
    assert model.lakehouse is not None and model.lakehouse.default_lakehouse_workspace_id == (
        "7d1e0000-0000-4000-8000-000000000002"
    )
    catalog = _assigned(model.cells[3].source, "FABRIC_ITEMS")
    assert catalog == {
        "lakehouses": {
            "PROD_WORKSPACE/lh_config_prod": {"id": "0b9a0000-0000-4000-8000-000000000003"},
            "PROD_WORKSPACE/lh_exports": {"id": "0b9a0000-0000-4000-8000-000000000004"},
        },
        "workspaces": {"PROD_WORKSPACE": "7d1e0000-0000-4000-8000-000000000002"},
    }


@pytest.mark.spark  # integration: builds the runtime wheel in a child pip
def test_render_and_deploy_refuse_listing_every_missing_id(tmp_path: Path) -> None:
    example = tmp_path / "sales"
    skip = shutil.ignore_patterns(".onelake", ".fabgen")
    shutil.copytree(REPO / "examples" / "sales", example, ignore=skip)
    settings = yaml.safe_load((example / "fabgen.yaml").read_text())
    settings["runtime"]["install"] = "inline"
    settings["environments"]["prod"]["workspace_id"] = "7d1e0000-0000-4000-8000-000000000001"
    (example / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(ConfigError) as caught:
        render_project(load_project(example), environment="prod")
    fields = [issue.field for issue in caught.value.issues]
    assert fields == [
        "environments.prod.lakehouses.DEV_WORKSPACE/lh_config.id",
        "environments.prod.workspaces.DEV_WORKSPACE.id",
    ]
    message = str(caught.value)
    assert "inline installation" in message and "warehouse wh_analytics (read by finance/" in message
    for command in (["render", "--out", str(tmp_path / "out")], ["deploy", "--dry-run"]):
        result = CliRunner().invoke(main, [*command, "-p", str(example), "--env", "prod"])
        assert result.exit_code == 2, result.output
        assert "environments.prod.lakehouses.DEV_WORKSPACE/lh_config.id" in result.output
        assert "environments.prod.workspaces.DEV_WORKSPACE.id" in result.output
    assert not (tmp_path / "out").exists() and not (example / ".fabgen" / "deploy" / "prod").exists()


def test_a_workspace_name_onelake_cannot_carry_needs_both_ids(tmp_path: Path) -> None:
    root = write_project(tmp_path / "shop")
    settings = yaml.safe_load((root / "fabgen.yaml").read_text())
    settings["environments"]["prod"]["workspaces"]["DEV_WORKSPACE"] = {"name": "Sales Prod"}
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(ConfigError) as caught:
        render_project(load_project(root), environment="prod")
    fields = {issue.field for issue in caught.value.issues}
    assert "environments.prod.workspaces.DEV_WORKSPACE.id" in fields
    assert "environments.prod.lakehouses.DEV_WORKSPACE/lh_gold.id" in fields  # a source lakehouse
    assert "OneLake cannot name workspace 'Sales Prod'" in str(caught.value)


@pytest.mark.spark  # integration: builds the runtime wheel in a child pip
def test_the_deploy_folder_of_the_example_has_no_dangling_or_invented_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = tmp_path / "sales"
    skip = shutil.ignore_patterns(".onelake", ".fabgen")
    shutil.copytree(REPO / "examples" / "sales", example, ignore=skip)
    monkeypatch.delenv("FABGEN_FABRIC_TOKEN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no Azure CLI: the dry run lists what it would publish
    result = CliRunner().invoke(main, ["deploy", "-p", str(example), "--env", "dev", "--dry-run"])
    assert result.exit_code == 0, result.output
    folder = example / ".fabgen" / "deploy" / "dev"
    files: dict[str, str | bytes] = {}
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            files[path.relative_to(folder).as_posix()] = data if path.suffix == ".whl" else data.decode()
    project = load_project(example)
    items = check_folder(files, _supplied(project.settings, "dev"))
    assert len(items) == 11  # 5 notebooks (one a Python notebook), 2 self-tests, 3 pipelines, the Environment
    import fabgen_runtime

    check_environment_item(files, fabgen_runtime.__version__, "2.0")
