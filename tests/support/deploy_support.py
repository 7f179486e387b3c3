"""Shared pieces of the ``fabgen deploy`` integration tests (tests/integration/test_deploy*.py).

The loopback Fabric API server (tests/support/fabric_api.py) is reached via ``FABGEN_FABRIC_API_URL``;
the token is an unsigned JWT-shaped string (auth itself is not under test). Test modules import the
fixtures from here (``wheel_fixture`` and ``server_fixture``, which pytest knows as ``wheel`` and
``server``) along with the helpers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from deploy_project import WORKSPACE_ID, ZERO_GUID
from fabgen.cli import main
from fabgen.deploy_plan import scan_items
from fabgen.wheel import build_runtime_wheel
from fabric_api import FabricApiServer, fake_jwt

TOKEN = fake_jwt()


@pytest.fixture(scope="module", name="wheel")
def wheel_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime wheel, built once for the module (``deploy --wheel``: one artifact, many deploys)."""
    return build_runtime_wheel(tmp_path_factory.mktemp("wheel")).path


@pytest.fixture(name="server")
def server_fixture(monkeypatch: pytest.MonkeyPatch):
    with FabricApiServer(WORKSPACE_ID) as api:
        monkeypatch.setenv("FABGEN_FABRIC_API_URL", api.url)
        monkeypatch.setenv("FABGEN_FABRIC_TOKEN", TOKEN)
        monkeypatch.setenv("FABRIC_CICD_RETRY_DELAY_OVERRIDE_SECONDS", "0")  # fabric-cicd's own test knob
        for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
            monkeypatch.delenv(name, raising=False)
        yield api


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
