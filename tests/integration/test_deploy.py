"""``fabgen deploy`` through the real fabric-cicd against a local server speaking Fabric's REST API.

The server (tests/support/fabric_api.py) implements the endpoints fabric-cicd 1.4 calls with Fabric's
documented shapes, records every request, and fails requests on demand. fabric-cicd reaches it via
``FABGEN_FABRIC_API_URL``; the token is an unsigned JWT-shaped string (auth itself is not under test).

The runtime wheel's upload to the config lakehouse (in-line installs) goes to Azurite
(tests/support/azurite.py) through ``FABGEN_ONELAKE_URL``, with ``FABGEN_ONELAKE_API=blob``: Azurite has
no ADLS Gen2 (dfs) endpoint, so the write takes the Blob API there; the reads (the check before the upload,
the read-back here) are the DataLake client's own, which it sends to the blob endpoint anyway.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import azurite
import pytest
import yaml
from azure.storage.filedatalake import DataLakeFileClient, DataLakeServiceClient
from azurite import Azurite
from click.testing import CliRunner, Result
from deploy_project import CONFIG_LAKEHOUSE_ID, WORKSPACE_ID, ZERO_GUID, export_rows, write_project
from fabgen.cli import main
from fabgen.deploy import StaticTokenCredential
from fabgen.deploy_plan import scan_items
from fabgen.wheel import build_runtime_wheel
from fabric_api import FabricApiServer, fake_jwt

pytestmark = pytest.mark.slow

TOKEN = fake_jwt()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime wheel, built once for the module (``deploy --wheel``: one artifact, many deploys)."""
    return build_runtime_wheel(tmp_path_factory.mktemp("wheel")).path


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch):
    with FabricApiServer(WORKSPACE_ID) as api:
        monkeypatch.setenv("FABGEN_FABRIC_API_URL", api.url)
        monkeypatch.setenv("FABGEN_FABRIC_TOKEN", TOKEN)
        monkeypatch.setenv("FABRIC_CICD_RETRY_DELAY_OVERRIDE_SECONDS", "0")  # fabric-cicd's own test knob
        for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
            monkeypatch.delenv(name, raising=False)
        yield api


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "shipping")


@pytest.fixture()
def onelake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Azurite]:
    """Azurite standing in for OneLake, the deploy pointed at it; the dev workspace's container exists."""
    folder = tmp_path / "azurite"
    emulator = azurite.start(folder)
    try:
        monkeypatch.setenv("FABGEN_ONELAKE_URL", f"{emulator.url}/{azurite.ACCOUNT}")
        monkeypatch.setenv("FABGEN_ONELAKE_API", "blob")  # Azurite has no dfs endpoint (module docstring)
        monkeypatch.setenv("FABGEN_ONELAKE_TOKEN", emulator.token)  # a storage-audience token Azurite checks
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(folder / "cert.pem"))  # Azurite's own certificate
        emulator.create_container(WORKSPACE_ID)
        yield emulator
    finally:
        emulator.stop()


def wheel_path(wheel: Path, lakehouse: str = CONFIG_LAKEHOUSE_ID) -> str:
    """The wheel's path in the config lakehouse (the dev environment gives both ids: GUID form)."""
    return f"{lakehouse}/Files/fabgen/wheels/{wheel.name}"


def wheel_uri(wheel: Path, workspace: str = WORKSPACE_ID) -> str:
    return f"abfss://{workspace}@onelake.dfs.fabric.microsoft.com/{wheel_path(wheel)}"


def onelake_file(emulator: Azurite, path: str, workspace: str = WORKSPACE_ID) -> DataLakeFileClient:
    """The DataLake client of one file in Azurite (reads go to the blob endpoint, which Azurite has)."""
    service = DataLakeServiceClient(
        f"{emulator.url}/onelake", credential=StaticTokenCredential(emulator.token)
    )
    return service.get_file_system_client(workspace).get_file_client(path)


def read_back(emulator: Azurite, path: str) -> tuple[bytes, dict[str, str], str]:
    """The file's bytes, metadata and ETag, read from Azurite."""
    client = onelake_file(emulator, path)
    properties = client.get_file_properties()
    return client.download_file().readall(), dict(properties.metadata), properties.etag


def python_project(root: Path, install: str = "environment") -> Path:
    """A project with a Spark group and a Python group (a Fabric Python notebook installs the wheel)."""
    write_project(root, {"sales": [1], "py": [1]}, install=install)
    settings = yaml.safe_load((root / "fabgen.yaml").read_text())
    settings["groups"] = {"py": {"engine": "python"}}
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return root


def step_lines(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if line.startswith("  ")]


def deploy(project: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["deploy", "-p", str(project), "--env", "dev", *args])


def deploy_ok(project: Path, wheel: Path, *args: str) -> Result:
    result = deploy(project, "--wheel", str(wheel), *args)
    assert result.exit_code == 0, result.output + str(result.exception)
    return result


def local_files(folder: Path) -> dict[tuple[str, str], dict[str, bytes]]:
    """The deploy folder's items: (type, name) -> {definition path: bytes}."""
    found = {}
    for item in scan_items(folder):
        item_dir = folder / f"{item.name}.{item.type}"
        found[(item.type, item.name)] = {
            p.relative_to(item_dir).as_posix(): p.read_bytes() for p in item_dir.rglob("*") if p.is_file()
        }
    return found


def logical_ids(folder: Path) -> dict[str, tuple[str, str]]:
    ids = {}
    for platform in folder.rglob(".platform"):
        data = yaml.safe_load(platform.read_text())
        ids[data["config"]["logicalId"]] = (data["metadata"]["type"], data["metadata"]["displayName"])
    return ids


def expected_payload(data: bytes, path: str, folder: Path, api: FabricApiServer) -> bytes:
    """What fabric-cicd sends for a rendered file: logicalIds -> deployed ids, zero workspace -> target.

    fabric-cicd documents both substitutions; binary files (the wheel) and ``.platform`` go as they are.
    """
    if path == ".platform" or path.endswith(".whl"):
        return data
    text = data.decode("utf-8")
    for logical, (type_, name) in logical_ids(folder).items():
        deployed = api.find(type_, name)
        assert deployed is not None, f"{type_} {name} was not deployed"
        text = text.replace(logical, deployed.id)
    pattern = rf'("?(?:default_lakehouse_workspace_id|workspaceId|workspace)"?\s*[:=]\s*"){ZERO_GUID}"'
    return re.sub(pattern, rf'\g<1>{api.workspace_id}"', text).encode("utf-8")


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


def test_deploy_builds_the_wheel_when_none_is_given(
    server: FabricApiServer, onelake: Azurite, tmp_path: Path
) -> None:
    project = write_project(tmp_path / "inline", {"solo": [1]}, install="inline", spark_runtime="1.3")
    result = deploy(project)
    assert result.exit_code == 0, result.output
    # inline installation: no Environment item; the pipeline lets %pip run; the wheel is uploaded
    assert sorted((i.type, i.display_name) for i in server.items.values()) == [
        ("DataPipeline", "solo_pipeline"),
        ("Notebook", "fabgen_selftest"),
        ("Notebook", "solo_eg1"),
    ]
    pipeline = server.find("DataPipeline", "solo_pipeline").parts["pipeline-content.json"].decode()
    assert '"_inlineInstallationEnabled"' in pipeline
    assert "environmentId" not in server.find("Notebook", "solo_eg1").parts["notebook-content.py"].decode()
    built = list((project / ".fabgen" / "deploy" / "dev-wheel").glob("fabgen_runtime-*-py3-none-any.whl"))
    assert len(built) == 1
    assert ["upload", "Wheel", wheel_uri(built[0]), "(not", "there)"] in step_lines(result.output)
    assert read_back(onelake, wheel_path(built[0]))[0] == built[0].read_bytes()
    # a Spark notebook's inline %pip reads the same file through the default lakehouse's mount
    content = server.find("Notebook", "solo_eg1").parts["notebook-content.py"].decode()
    assert f"/lakehouse/default/Files/fabgen/wheels/{built[0].name}" in content


def test_deploy_uploads_the_wheel_the_python_notebooks_install(
    server: FabricApiServer,
    onelake: Azurite,
    tmp_path: Path,
    wheel: Path,
) -> None:
    project = python_project(tmp_path / "shipping")
    result = deploy_ok(project, wheel)
    lines = step_lines(result.output)
    assert lines[0] == ["upload", "Wheel", wheel_uri(wheel), "(not", "there)"]  # the first step
    assert "runtime wheel uploaded" in result.output
    data, metadata, etag = read_back(onelake, wheel_path(wheel))
    assert data == wheel.read_bytes()  # byte for byte
    assert metadata == {"fabgen_sha256": hashlib.sha256(data).hexdigest()}
    # the deployed Python notebook installs exactly that file
    content = server.find("Notebook", "py_eg1").parts["notebook-content.py"].decode()
    assert f'RUNTIME_WHEEL = "{wheel_uri(wheel)}"' in content
    assert "/lakehouse/default" not in content

    # a second deploy finds the same bytes there and leaves the file alone
    again = deploy_ok(project, wheel)
    assert step_lines(again.output)[0] == [
        "skip",
        "Wheel",
        wheel_uri(wheel),
        "(the",
        "same",
        "bytes",
        "are",
        "there)",
    ]
    assert "runtime wheel unchanged" in again.output
    assert read_back(onelake, wheel_path(wheel))[2] == etag  # not written again

    # other bytes under that name (a hand upload, or another build): replaced
    from azure.storage.blob import BlobClient  # (the DataLake client writes through dfs, which Azurite lacks)

    blob = BlobClient(
        f"{onelake.url}/onelake",
        WORKSPACE_ID,
        wheel_path(wheel),
        credential=StaticTokenCredential(onelake.token),
    )
    blob.upload_blob(b"something else", overwrite=True)
    third = deploy_ok(project, wheel)
    assert step_lines(third.output)[0] == [
        "upload",
        "Wheel",
        wheel_uri(wheel),
        "(different",
        "bytes",
        "there)",
    ]
    assert read_back(onelake, wheel_path(wheel))[0] == wheel.read_bytes()


def test_a_failed_upload_stops_the_deploy_before_any_item_is_published(
    server: FabricApiServer,
    onelake: Azurite,
    tmp_path: Path,
    wheel: Path,
) -> None:
    project = python_project(tmp_path / "shipping")
    settings = yaml.safe_load((project / "fabgen.yaml").read_text())
    missing = "0d6a4a3e-0000-4000-8000-00000000dead"  # a workspace OneLake (Azurite) does not have
    settings["environments"]["dev"]["workspaces"]["DEV_WORKSPACE"]["id"] = missing
    (project / "fabgen.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    result = deploy(project, "--wheel", str(wheel))
    assert result.exit_code == 1, result.output
    errors = result.output.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("Error:"), result.output
    url = f"{onelake.url}/onelake/{missing}/{wheel_path(wheel)}"
    assert f"uploading the runtime wheel to {url} failed: HTTP 404 ContainerNotFound" in errors[0]
    assert "nothing was published" in errors[0] and "Traceback" not in result.output
    # the loopback Fabric API: listed, nothing created or changed
    assert server.items == {} and server.mutating_requests() == []


def test_dry_run_lists_the_upload_and_writes_nothing(
    server: FabricApiServer,
    onelake: Azurite,
    tmp_path: Path,
    wheel: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    project = python_project(tmp_path / "shipping")
    dry = deploy_ok(project, wheel, "--dry-run")
    assert step_lines(dry.output)[0] == ["upload", "Wheel", wheel_uri(wheel), "(not", "there)"]
    assert "runtime wheel to upload" in dry.output
    with pytest.raises(ResourceNotFoundError):
        onelake_file(onelake, wheel_path(wheel)).get_file_properties()
    assert server.items == {}

    deploy_ok(project, wheel)
    dry = deploy_ok(project, wheel, "--dry-run")
    assert step_lines(dry.output)[0][:2] == ["skip", "Wheel"]

    # no credential: listed, not checked
    for name in ("FABGEN_FABRIC_TOKEN", "FABGEN_ONELAKE_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", str(tmp_path))  # no Azure CLI either
    dry = deploy_ok(project, wheel, "--dry-run")
    assert ["upload", "Wheel", wheel_uri(wheel), "(not", "checked:", "no", "credential)"] in step_lines(
        dry.output
    )


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sales"


def test_deploy_the_example_project(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    wheel: Path,
    onelake: Azurite,
) -> None:
    """The real example project, copied out of the repo (deploy stages into <project>/.fabgen/)."""
    project = tmp_path / "sales"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".onelake", ".fabgen", "__pycache__"))
    settings = yaml.safe_load((project / "fabgen.yaml").read_text())
    dev = (settings.get("environments") or {}).get("dev") or {}
    if not dev.get("workspace_id"):  # the example names no dev workspace (yet): give the copy one
        settings.setdefault("environments", {})["dev"] = {**dev, "workspace_id": WORKSPACE_ID}
        (project / "fabgen.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    settings = yaml.safe_load((project / "fabgen.yaml").read_text())
    workspace_id = settings["environments"]["dev"]["workspace_id"]
    monkeypatch.setenv("FABRIC_CICD_RETRY_DELAY_OVERRIDE_SECONDS", "0")
    monkeypatch.setenv("PATH", str(tmp_path))  # no Azure CLI: the dry run lists what would be published
    for name in ("FABGEN_FABRIC_TOKEN", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)

    dry = deploy(project, "--dry-run", "--wheel", str(wheel))
    assert dry.exit_code == 0, dry.output
    folder = project / ".fabgen" / "deploy" / "dev"
    files = local_files(folder)
    assert ("Environment", "sales_env") in files and len(files) >= 3
    assert f"{len(files)} publish" in dry.output

    # its Python notebook installs the runtime from the config lakehouse: the deploy uploads the wheel
    config_workspace = settings["environments"]["dev"]["workspaces"]["DEV_WORKSPACE"]["id"]
    config_lakehouse = settings["environments"]["dev"]["lakehouses"]["DEV_WORKSPACE/lh_config"]["id"]
    onelake.create_container(config_workspace)
    with FabricApiServer(workspace_id) as api:
        monkeypatch.setenv("FABGEN_FABRIC_API_URL", api.url)
        monkeypatch.setenv("FABGEN_FABRIC_TOKEN", TOKEN)
        deployed = deploy_ok(project, wheel)
        uploaded = f"{config_lakehouse}/Files/fabgen/wheels/{wheel.name}"
        assert step_lines(deployed.output)[0][:2] == ["upload", "Wheel"]
        assert (
            onelake_file(onelake, uploaded, config_workspace).download_file().readall() == wheel.read_bytes()
        )
        assert sorted((i.type, i.display_name) for i in api.items.values()) == sorted(files)
        for (type_, name), parts in files.items():
            item = api.find(type_, name)
            for path, data in parts.items():
                expected = expected_payload(data, path, folder, api)
                assert item.parts[path] == expected, f"{type_} {name}: {path}"
        ids = {(i.type, i.display_name): i.id for i in api.items.values()}
        result = deploy_ok(project, wheel)
        assert f"{len(files)} update" in result.output
        assert {(i.type, i.display_name): i.id for i in api.items.values()} == ids
        assert api.unhandled == []
