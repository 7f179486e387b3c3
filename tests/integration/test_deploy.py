"""``fabgen deploy`` through the real fabric-cicd against a local server speaking Fabric's REST API.

The server (tests/support/fabric_api.py) implements the endpoints fabric-cicd 1.4 calls with Fabric's
documented shapes, records every request, and fails requests on demand. fabric-cicd reaches it via
``FABGEN_FABRIC_API_URL``; the token is an unsigned JWT-shaped string (auth itself is not under test).

This module covers publishing the items (create, update, prune, errors, dry runs); the runtime wheel's
upload to OneLake (Azurite) and the example project are in test_deploy_wheel_upload.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from deploy_project import WORKSPACE_ID, ZERO_GUID, export_rows, write_project
from deploy_support import (
    TOKEN,
    deploy,
    deploy_ok,
    expected_payload,
    local_files,
    server_fixture,  # noqa: F401  (the ``server`` fixture)
    wheel_fixture,  # noqa: F401  (the ``wheel`` fixture)
)
from fabric_api import FabricApiServer

pytestmark = pytest.mark.slow


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "shipping")


def test_deploy_sends_exactly_the_rendered_items(server: FabricApiServer, project: Path, wheel: Path) -> None:
    result = deploy_ok(project, wheel)
    folder = project / ".fabgen" / "deploy" / "dev"
    files = local_files(folder)
    assert sorted(files) == [
        ("DataPipeline", "ops_pipeline"),
        ("DataPipeline", "sales_pipeline"),
        ("Environment", "shipping_env"),
        ("Notebook", "fabgen_selftest"),  # the self-test, rendered with the groups' notebooks
        ("Notebook", "ops_eg1"),
        ("Notebook", "sales_eg1"),
        ("Notebook", "sales_eg2"),
    ]
    assert "7 create" in result.output
    assert sorted((i.type, i.display_name) for i in server.items.values()) == sorted(files)
    for (type_, name), parts in files.items():
        item = server.find(type_, name)
        assert item is not None and item.description.startswith("fabgen:")
        assert sorted(item.parts) == sorted(parts), f"{type_} {name}: parts differ"
        for path, data in parts.items():
            assert item.parts[path] == expected_payload(data, path, folder, server), f"{type_} {name}: {path}"
    # the wheel arrived byte for byte, and the pipeline points at the deployed notebooks
    environment = server.find("Environment", "shipping_env")
    assert environment.parts[f"Libraries/CustomLibraries/{wheel.name}"] == wheel.read_bytes()
    assert b"runtime_version: 2.0" in environment.parts["Setting/Sparkcompute.yml"]
    pipeline = server.find("DataPipeline", "sales_pipeline").parts["pipeline-content.json"].decode()
    for notebook in ("sales_eg1", "sales_eg2"):
        assert f'"notebookId": "{server.find("Notebook", notebook).id}"' in pipeline
    assert f'"workspaceId": "{WORKSPACE_ID}"' in pipeline and ZERO_GUID not in pipeline
    # and every notebook runs in the deployed Environment (the runtime wheel)
    for notebook in ("ops_eg1", "sales_eg1", "sales_eg2"):
        content = server.find("Notebook", notebook).parts["notebook-content.py"].decode()
        assert f'"environmentId": "{environment.id}"' in content
    # the protocol: every create went through a long-running operation, the environment was published
    routes = [(r.method, r.route) for r in server.requests]
    creates = [r for r in server.requests if (r.method, r.route) == ("POST", "/v1/workspaces/{id}/items")]
    assert len(creates) == 7 and {r.status for r in creates} == {202}
    assert all(r.body["definition"]["parts"] for r in creates)
    assert ("GET", "/v1/operations/{id}/result") in routes
    assert routes.count(("POST", "/v1/workspaces/{id}/environments/{id}/staging/publish")) == 1
    assert environment.publish_state == "Success"
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in server.requests)
    assert not any("/folders" in r.path for r in server.requests)  # fabgen leaves workspace folders alone
    assert server.unhandled == []


def test_second_deploy_updates_instead_of_duplicating(
    server: FabricApiServer, project: Path, wheel: Path
) -> None:
    deploy_ok(project, wheel)
    first = {(i.type, i.display_name): i.id for i in server.items.values()}
    mark = len(server.requests)
    result = deploy_ok(project, wheel)
    assert "7 update" in result.output
    assert {(i.type, i.display_name): i.id for i in server.items.values()} == first
    again = server.requests[mark:]
    assert not [r for r in again if (r.method, r.route) == ("POST", "/v1/workspaces/{id}/items")]
    updates = [r for r in again if r.route == "/v1/workspaces/{id}/items/{id}/updateDefinition"]
    assert len(updates) == 7
    assert all(r.query == {"updateMetadata": ["True"]} for r in updates)
    assert all(item.updates == 1 for item in server.items.values())


def test_prune_removes_only_fabgen_owned_orphans(server: FabricApiServer, project: Path, wheel: Path) -> None:
    deploy_ok(project, wheel)
    # someone else's items, some named like fabgen's; and another project's environment
    server.add_item("Notebook", "ops_eg7", "a notebook written by hand")
    server.add_item("Notebook", "Quarterly report", "")
    server.add_item("Environment", "other_env", "fabgen: runtime 0.1.0 of project other")
    server.add_item("Lakehouse", "lh_exports", "")
    others = {(i.type, i.display_name) for i in server.items.values()} - {
        (t, n) for t, n in local_files(project / ".fabgen" / "deploy" / "dev")
    }
    # the "ops" group goes away
    exports = yaml.safe_dump({"exports": export_rows({"sales": [1, 2]})})
    (project / "exports" / "exports.yaml").write_text(exports)

    kept = deploy_ok(project, wheel)  # without --prune nothing is removed
    assert "remove" not in kept.output
    assert server.find("Notebook", "ops_eg1") is not None

    result = deploy_ok(project, wheel, "--prune")
    assert "2 remove" in result.output
    remaining = {(i.type, i.display_name) for i in server.items.values()}
    assert remaining == others | {
        ("Environment", "shipping_env"),
        ("Notebook", "fabgen_selftest"),
        ("Notebook", "sales_eg1"),
        ("Notebook", "sales_eg2"),
        ("DataPipeline", "sales_pipeline"),
    }
    deletes = [r for r in server.requests if r.method == "DELETE"]
    assert len(deletes) == 2 and {r.status for r in deletes} == {200}


def test_server_error_mid_deploy_fails_with_one_clear_line(
    server: FabricApiServer, project: Path, wheel: Path
) -> None:
    # the third item created is refused (the Environment and one notebook went through)
    server.inject(
        400,
        method="POST",
        path=r"/items$",
        skip=2,
        error_code="InvalidDefinition",
        message="The notebook definition is not valid",
    )
    result = deploy(project, "--wheel", str(wheel))
    assert result.exit_code == 1, result.output
    errors = result.output.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("Error:"), result.output
    assert f"deploy to workspace {WORKSPACE_ID} (dev) failed" in errors[0]
    assert "The notebook definition is not valid" in errors[0]
    assert "Traceback" not in result.output


def test_failed_long_running_operation_is_reported(
    server: FabricApiServer, project: Path, wheel: Path
) -> None:
    deploy_ok(project, wheel)
    # an updateDefinition is accepted (202) but its operation ends Failed, as Fabric reports a bad definition
    server.inject(
        200,
        path="/updateDefinition$",
        in_operation=True,
        error_code="InvalidItemDefinition",
        message="bad part",
    )
    result = deploy(project, "--wheel", str(wheel))
    assert result.exit_code == 1
    assert "InvalidItemDefinition" in result.output and "bad part" in result.output


def test_transient_server_error_is_retried(server: FabricApiServer, project: Path, wheel: Path) -> None:
    fault = server.inject(500, skip=4)  # the 5th request answers 500 once; fabric-cicd retries it
    deploy_ok(project, wheel)
    assert fault.hits == 1
    assert [r.status for r in server.requests].count(500) == 1
    assert len(server.items) == 7


def test_dry_run_changes_nothing(server: FabricApiServer, project: Path, wheel: Path) -> None:
    deploy_ok(project, wheel)
    server.add_item("Notebook", "gone_eg1", "fabgen: exports of group gone, execution group 1")
    before = {(i.type, i.display_name, i.id, i.updates) for i in server.items.values()}
    (project / "exports" / "exports.yaml").write_text(
        yaml.safe_dump({"exports": export_rows({"sales": [1, 2, 3], "ops": [1]})})
    )
    mark = len(server.requests)
    result = deploy_ok(project, wheel, "--dry-run", "--prune")
    lines = [line.split() for line in result.output.splitlines() if line.startswith("  ")]
    assert ["create", "Notebook", "sales_eg3"] in lines
    assert ["update", "Notebook", "sales_eg1"] in lines
    assert ["remove", "Notebook", "gone_eg1"] in lines
    assert "Dry run, nothing changed" in result.output
    assert {(i.type, i.display_name, i.id, i.updates) for i in server.items.values()} == before
    assert [(r.method, r.route) for r in server.requests[mark:]] == [("GET", "/v1/workspaces/{id}/items")]


def test_dry_run_without_credentials_lists_what_would_be_published(
    server: FabricApiServer, project: Path, wheel: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FABGEN_FABRIC_TOKEN")
    monkeypatch.setenv("PATH", str(tmp_path))  # no Azure CLI either
    result = deploy_ok(project, wheel, "--dry-run")
    assert "7 publish" in result.output
    assert "no credential" in result.output
    assert server.requests == []
