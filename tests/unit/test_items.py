"""Fabric items: .platform against Microsoft's schema, stable logicalIds, the pipeline definition."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import jsonschema
import pytest
from fabgen import items
from fabgen.project import load_project
from fabgen.render import render_project
from sample_projects import write_project

# Microsoft's schema for .platform (microsoft/json-schemas, fabric/gitIntegration/platformProperties/2.0.0).
SCHEMA_FILE = Path(__file__).parents[1] / "schemas" / "platformProperties-2.0.0.schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text())


@pytest.fixture()
def rendered(tmp_path: Path):
    return render_project(load_project(write_project(tmp_path / "shop")))


def _platforms(rendered) -> dict[str, dict]:
    return {path: json.loads(text) for path, text in rendered.files.items() if path.endswith("/.platform")}


def test_every_platform_file_matches_the_schema(rendered) -> None:
    platforms = _platforms(rendered)
    # notebooks sales_eg1, sales_eg2, ops_daily_eg3; two pipelines; the Environment shop_env; fabgen_selftest
    assert len(platforms) == 3 + 2 + 1 + 1
    for path, platform in platforms.items():
        jsonschema.validate(platform, SCHEMA)
        folder = path.split("/")[0]
        name, item_type = folder.rsplit(".", 1)
        assert platform["metadata"]["type"] == item_type
        assert platform["metadata"]["displayName"] == name
        assert platform["$schema"] == items.PLATFORM_SCHEMA_URL
        assert platform["config"]["version"] == "2.0"
        uuid.UUID(platform["config"]["logicalId"])


def test_logical_ids_are_unique_and_stable(tmp_path: Path, rendered) -> None:
    ids = [p["config"]["logicalId"] for p in _platforms(rendered).values()]
    assert len(set(ids)) == len(ids)
    again = render_project(load_project(write_project(tmp_path / "elsewhere")))
    assert [p["config"]["logicalId"] for p in _platforms(again).values()] == ids
    # Derived from project, group and execution group: a different project gets different ids.
    other = render_project(load_project(write_project(tmp_path / "other", name="other")))
    assert not set(ids) & {p["config"]["logicalId"] for p in _platforms(other).values()}
    # Pinned: a deployed item is found again by its logicalId, so a change to how it is derived
    # would make fabric-cicd create every item anew. uuid5 of project, group and execution group.
    assert items.notebook_logical_id("shop", "sales", 1) == "6817dde4-aa54-5727-aeba-9cc120aa8bff"
    assert items.pipeline_logical_id("shop", "sales") == "ebe7bfa4-1161-524a-941d-49dd0bf5f3f2"
    assert uuid.UUID(items.notebook_logical_id("shop", "sales", 1)).version == 5
    assert items.notebook_logical_id("shop", "sales", 1) != items.notebook_logical_id("shop", "sales", 2)
    assert items.notebook_logical_id("shop", "sales", 1) != items.pipeline_logical_id("shop", "sales")


def test_names() -> None:
    assert items.notebook_name("sales", 2) == "sales_eg2"
    assert items.notebook_name("ops.daily-x", 3) == "ops_daily-x_eg3"
    assert items.pipeline_name("sales") == "sales_pipeline"


def test_pipeline_runs_execution_groups_in_order(rendered) -> None:
    content = json.loads(rendered.files["sales_pipeline.DataPipeline/pipeline-content.json"])
    activities = content["properties"]["activities"]
    assert [a["name"] for a in activities] == ["Run sales_eg1", "Run sales_eg2"]  # eg5 is inactive
    assert activities[0]["dependsOn"] == []
    after_first = [{"activity": "Run sales_eg1", "dependencyConditions": ["Succeeded"]}]
    assert activities[1]["dependsOn"] == after_first
    platforms = _platforms(rendered)
    for activity, eg in zip(activities, (1, 2), strict=True):
        assert activity["type"] == "TridentNotebook"
        notebook_platform = platforms[f"sales_eg{eg}.Notebook/.platform"]
        assert activity["typeProperties"]["notebookId"] == notebook_platform["config"]["logicalId"]
        assert activity["typeProperties"]["workspaceId"] == "00000000-0000-0000-0000-000000000000"
        assert activity["policy"]["timeout"] == "0.12:00:00"


def test_pipeline_parameters_are_forwarded(rendered) -> None:
    content = json.loads(rendered.files["sales_pipeline.DataPipeline/pipeline-content.json"])
    parameters = content["properties"]["parameters"]
    assert parameters == {
        "run_date": {"type": "string", "defaultValue": ""},
        "execution_id": {"type": "string", "defaultValue": ""},
        "is_retry": {"type": "bool", "defaultValue": False},
        "timezone": {"type": "string", "defaultValue": "Australia/Sydney"},
        "max_concurrency": {"type": "int", "defaultValue": 3},
    }
    for activity in content["properties"]["activities"]:
        passed = activity["typeProperties"]["parameters"]
        assert set(passed) == set(parameters)  # environment install: no _inlineInstallationEnabled
        for name, spec in passed.items():
            assert spec["type"] == parameters[name]["type"]
            assert spec["value"]["type"] == "Expression"
            assert f"pipeline().parameters.{name}" in spec["value"]["value"]
        assert "pipeline().RunId" in passed["execution_id"]["value"]["value"]


def test_inline_install_enables_pip_in_pipeline_runs(tmp_path: Path) -> None:
    root = write_project(tmp_path / "shop", runtime={"install": "inline", "wheel_path": "Files/libs"})
    rendered = render_project(load_project(root))
    content = json.loads(rendered.files["sales_pipeline.DataPipeline/pipeline-content.json"])
    for activity in content["properties"]["activities"]:
        assert activity["typeProperties"]["parameters"]["_inlineInstallationEnabled"] == {
            "value": True,
            "type": "bool",
        }
