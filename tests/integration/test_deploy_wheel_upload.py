"""``fabgen deploy`` uploading the runtime wheel to the config lakehouse (in-line installs), and dry runs.

The upload goes to Azurite (tests/support/azurite.py) through ``FABGEN_ONELAKE_URL``, with
``FABGEN_ONELAKE_API=blob``: Azurite has no ADLS Gen2 (dfs) endpoint, so the write takes the Blob API there;
the reads (the check before the upload, the read-back here) are the DataLake client's own, which it sends
to the blob endpoint anyway. The items go to the loopback Fabric API (tests/support/fabric_api.py), as in
test_deploy.py; this module also deploys the real example project end to end.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import azurite
import pytest
import yaml
from azure.storage.filedatalake import DataLakeFileClient, DataLakeServiceClient
from azurite import Azurite
from deploy_project import CONFIG_LAKEHOUSE_ID, WORKSPACE_ID, write_project
from deploy_support import (
    TOKEN,
    deploy,
    deploy_ok,
    expected_payload,
    local_files,
    server_fixture,  # noqa: F401  (the ``server`` fixture)
    wheel_fixture,  # noqa: F401  (the ``wheel`` fixture)
)
from fabgen.deploy import StaticTokenCredential
from fabric_api import FabricApiServer

pytestmark = pytest.mark.slow


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
