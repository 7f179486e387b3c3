"""Deploy without network: wheel checks, the Environment item, prune selection, ownership, config errors."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from deploy_project import WORKSPACE_ID, write_project
from fabgen import items
from fabgen.cli import main
from fabgen.deploy import StaticTokenCredential, deploy_folder, target_workspace
from fabgen.deploy_plan import (
    OWNER_MARKER,
    ItemRef,
    only_these_regex,
    owned,
    plan_actions,
    prune_selection,
    scan_items,
)
from fabgen.fabric_environment import environment_item_name, sparkcompute_yaml, write_environment_item
from fabgen.project import load_project
from fabgen.render import render_project
from fabgen.wheel import RuntimeBuildError, check_wheel, read_wheel
from fabgen_runtime.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "tests" / "schemas" / "platformProperties-2.0.0.schema.json").read_text())


def make_wheel(
    folder: Path,
    name: str = "fabgen_runtime",
    tag: str = "py3-none-any",
    requires: tuple[str, ...] = (),
    modules: tuple[str, ...] = ("fabgen_runtime/__init__.py", "fabgen_runtime/config.py"),
) -> Path:
    """A wheel-shaped zip with the given metadata (what pip would build)."""
    path = folder / f"{name}-0.1.0-{tag}.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 0.1.0\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as zf:
        for module in modules:
            zf.writestr(module, "x = 1\n")
        zf.writestr(f"{name}-0.1.0.dist-info/METADATA", metadata)
        wheel_meta = f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {tag}\n"
        zf.writestr(f"{name}-0.1.0.dist-info/WHEEL", wheel_meta)
        zf.writestr(f"{name}-0.1.0.dist-info/RECORD", "")
    return path


# --------------------------------------------------------------------------- wheel checks


def test_a_pure_dependency_free_wheel_passes(tmp_path: Path) -> None:
    info = check_wheel(read_wheel(make_wheel(tmp_path)), {"fabgen_runtime/__init__.py"})
    assert (info.name, info.version, info.tags) == ("fabgen-runtime", "0.1.0", ("py3-none-any",))
    assert info.requires == ()
    assert info.modules == ("fabgen_runtime/__init__.py", "fabgen_runtime/config.py")


def test_a_wheel_declaring_a_dependency_is_rejected(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, requires=("pyspark>=3.5", "pyyaml"))
    with pytest.raises(RuntimeBuildError, match=r"declares dependencies \['pyspark>=3.5', 'pyyaml'\]"):
        check_wheel(read_wheel(wheel))


def test_a_platform_specific_wheel_is_rejected(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tag="cp311-cp311-linux_x86_64")
    with pytest.raises(RuntimeBuildError, match="Fabric needs exactly py3-none-any"):
        check_wheel(read_wheel(wheel))


def test_a_wheel_missing_modules_is_rejected(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, modules=("fabgen_runtime/__init__.py",))
    expected = {"fabgen_runtime/__init__.py", "fabgen_runtime/formats/__init__.py"}
    with pytest.raises(RuntimeBuildError, match=r"missing modules \['fabgen_runtime/formats/__init__.py'\]"):
        check_wheel(read_wheel(wheel), expected)


def test_another_distribution_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(RuntimeBuildError, match="not 'fabgen-runtime'"):
        check_wheel(read_wheel(make_wheel(tmp_path, name="something_else")))


def test_a_file_that_is_not_a_wheel_is_rejected(tmp_path: Path) -> None:
    bogus = tmp_path / "fabgen_runtime-0.1.0-py3-none-any.whl"
    bogus.write_text("not a zip")
    with pytest.raises(RuntimeBuildError, match="not a valid wheel"):
        read_wheel(bogus)


# --------------------------------------------------------------------------- Environment item


@pytest.mark.parametrize("runtime", ["1.3", "2.0"])
def test_sparkcompute_names_the_runtime_version(runtime: str) -> None:
    text = sparkcompute_yaml(runtime)
    data = yaml.safe_load(text)
    assert text.rstrip().endswith(f"runtime_version: {runtime}")  # unquoted, as Fabric writes it
    assert data["runtime_version"] == float(runtime)
    assert data["dynamic_executor_allocation"] == {"enabled": True, "min_executors": 1, "max_executors": 9}


def test_sparkcompute_overrides_merge_over_the_defaults() -> None:
    data = yaml.safe_load(sparkcompute_yaml("1.3", {"executor_cores": 4, "runtime_version": "9.9"}))
    assert data["executor_cores"] == 4
    assert data["driver_cores"] == 8
    assert data["runtime_version"] == 1.3  # the project's spark_runtime wins


def test_environment_item_layout_and_platform(tmp_path: Path) -> None:
    wheel = read_wheel(make_wheel(tmp_path))
    folder = write_environment_item(tmp_path / "out", "my project", wheel, "1.3")
    assert folder.name == "my_project_env.Environment"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == [
        ".platform",
        "Libraries/CustomLibraries/fabgen_runtime-0.1.0-py3-none-any.whl",
        "Setting/Sparkcompute.yml",
    ]
    assert (folder / files[1]).read_bytes() == wheel.path.read_bytes()
    platform = json.loads((folder / ".platform").read_text())
    jsonschema.validate(platform, SCHEMA)
    assert platform["metadata"]["type"] == "Environment"
    assert platform["metadata"]["displayName"] == environment_item_name("my project") == "my_project_env"
    assert platform["metadata"]["description"].startswith(OWNER_MARKER)
    # the logicalId rendered notebooks use for their environment dependency
    assert platform["config"]["logicalId"] == items.environment_logical_id("my project")


# --------------------------------------------------------------------------- ownership and prune selection


def ref(type_: str, name: str, description: str = f"{OWNER_MARKER} x") -> ItemRef:
    return ItemRef(type_, name, description)


def test_owned_needs_fabgen_naming_and_description() -> None:
    assert owned(ref("Notebook", "sales_eg1"), "shop")
    assert owned(ref("DataPipeline", "sales_pipeline"), "shop")
    assert owned(ref("Environment", "shop_env"), "shop")
    assert not owned(ref("Notebook", "sales_eg1", "my own notebook"), "shop")  # a user's look-alike
    assert not owned(ref("Notebook", "sales report"), "shop")
    assert not owned(ref("Environment", "other_env"), "shop")  # another project's environment
    assert not owned(ref("Lakehouse", "sales_eg1"), "shop")
    assert not owned(ref("Notebook", "sales_eg1x"), "shop")


def test_prune_selects_only_owned_orphans_in_unpublish_order() -> None:
    local = [
        ref("Notebook", "sales_eg1"),
        ref("DataPipeline", "sales_pipeline"),
        ref("Environment", "shop_env"),
    ]
    deployed = [
        *local,
        ref("Notebook", "old_eg1"),
        ref("Notebook", "old_eg2"),
        ref("DataPipeline", "old_pipeline"),
        ref("Notebook", "adhoc_eg1", "written by hand"),
        ref("Notebook", "Quarterly report", ""),
        ref("Environment", "other_env"),
        ref("Lakehouse", "lh_exports", ""),
    ]
    chosen = prune_selection(local, deployed, "shop")
    assert [(i.type, i.name) for i in chosen] == [
        ("DataPipeline", "old_pipeline"),
        ("Notebook", "old_eg2"),
        ("Notebook", "old_eg1"),
    ]
    actions = plan_actions(local, deployed, "shop", prune=True)
    assert [(a.verb, a.item.name) for a in actions] == [
        ("update", "shop_env"),
        ("update", "sales_eg1"),
        ("update", "sales_pipeline"),
        ("remove", "old_pipeline"),
        ("remove", "old_eg2"),
        ("remove", "old_eg1"),
    ]
    assert all(a.verb != "remove" for a in plan_actions(local, deployed, "shop", prune=False))


def test_plan_without_workspace_lists_what_would_be_published() -> None:
    local = [ref("DataPipeline", "a_pipeline"), ref("Notebook", "a_eg1")]
    assert [(a.verb, a.item.name) for a in plan_actions(local, None, "shop", prune=True)] == [
        ("publish", "a_eg1"),
        ("publish", "a_pipeline"),
    ]


def test_exclude_regex_spares_everything_but_the_chosen_names() -> None:
    pattern = re.compile(only_these_regex(["old_eg1", "a.b_eg2"]))
    names = ["old_eg1", "a.b_eg2", "old_eg10", "aXb_eg2", "xold_eg1", "old_eg"]
    excluded = {name for name in names if pattern.match(name)}
    # fabric-cicd unpublishes the orphans its exclude regex does NOT match: exactly the two chosen names
    assert excluded == {"old_eg10", "aXb_eg2", "xold_eg1", "old_eg"}


def test_every_rendered_item_is_recognised_as_fabgen_owned(tmp_path: Path) -> None:
    """Guards the contract with the renderer: names and descriptions that --prune relies on."""
    project = load_project(write_project(tmp_path / "p", {"sales.eu": [1, 3], "ops": [2]}))
    rendered = render_project(project, environment="dev")
    for item in rendered.items:
        platform = json.loads(item.files[".platform"])
        found = ItemRef(item.type, item.name, platform["metadata"].get("description", ""))
        assert owned(found, project.settings.name), found


def test_scan_items_reads_every_platform_file(tmp_path: Path) -> None:
    for name, type_ in [("a_eg1", "Notebook"), ("a_pipeline", "DataPipeline")]:
        folder = tmp_path / f"{name}.{type_}"
        folder.mkdir()
        platform = items.platform_properties(type_, name, items.logical_id("p", name), "fabgen: x")
        (folder / ".platform").write_text(json.dumps(platform))
    (tmp_path / "ipynb").mkdir()
    (tmp_path / "ipynb" / "a_eg1.ipynb").write_text("{}")
    assert scan_items(tmp_path) == [ItemRef("Notebook", "a_eg1"), ItemRef("DataPipeline", "a_pipeline")]


# --------------------------------------------------------------------------- config and auth


def test_target_workspace_needs_a_known_environment_with_a_guid(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path / "p"))
    assert target_workspace(project, "dev") == WORKSPACE_ID
    with pytest.raises(ConfigError, match=r"no environment 'prod' \(known: dev, nowhere\)"):
        target_workspace(project, "prod")
    with pytest.raises(ConfigError, match="needs workspace_id"):
        target_workspace(project, "nowhere")


def test_environment_names_cannot_leave_the_deploy_folder(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    settings = yaml.safe_load((root / "fabgen.yaml").read_text())
    settings["environments"][".."] = {"workspace_id": WORKSPACE_ID}
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    project = load_project(root)
    assert deploy_folder(project, "dev") == root / ".fabgen" / "deploy" / "dev"
    with pytest.raises(ConfigError, match="must be named with letters"):
        deploy_folder(project, "..")
    result = CliRunner().invoke(main, ["deploy", "-p", str(root), "--env", ".."])
    assert result.exit_code == 2 and "must be named" in result.output


def test_deploy_cli_rejects_an_unknown_environment_with_exit_2(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    result = CliRunner().invoke(main, ["deploy", "-p", str(root), "--env", "prod"])
    assert result.exit_code == 2, result.output
    assert "no environment 'prod'" in result.output
    assert not (root / ".fabgen").exists()  # nothing rendered before the config check


def test_static_token_credential_uses_the_jwt_expiry() -> None:
    from fabric_api import fake_jwt

    token = fake_jwt({"exp": 1_900_000_000})
    access = StaticTokenCredential(token).get_token("https://api.fabric.microsoft.com/.default")
    assert (access.token, access.expires_on) == (token, 1_900_000_000)
    assert StaticTokenCredential("opaque-token").get_token().expires_on > 1_700_000_000


# --------------------------------------------------------------------------- the wheel in OneLake


def _mapping(root: Path, env: str | None) -> tuple[Any, Any]:
    from fabgen.environments import environment_mapping

    project = load_project(root)
    return project.settings, environment_mapping(project.settings, env)


def test_the_wheel_lives_in_the_config_lakehouse_in_onelakes_guid_or_name_form(tmp_path: Path) -> None:
    from deploy_project import CONFIG_LAKEHOUSE_ID
    from fabgen.onelake import runtime_wheel_file

    root = write_project(tmp_path / "p")
    name = "fabgen_runtime-0.1.0-py3-none-any.whl"
    # dev gives both ids: the GUID form
    target = runtime_wheel_file(*_mapping(root, "dev"), "0.1.0")
    assert target.workspace == WORKSPACE_ID
    assert target.path == f"{CONFIG_LAKEHOUSE_ID}/Files/fabgen/wheels/{name}"
    assert target.abfss == f"abfss://{WORKSPACE_ID}@onelake.dfs.fabric.microsoft.com/{target.path}"
    assert target.url("https://onelake.dfs.fabric.microsoft.com/") == (
        f"https://onelake.dfs.fabric.microsoft.com/{WORKSPACE_ID}/{target.path}"
    )
    # no environment (render without --env), or one without ids: the name form
    for env in (None, "nowhere"):
        target = runtime_wheel_file(*_mapping(root, env), "0.1.0")
        assert target.abfss == (
            f"abfss://DEV_WORKSPACE@onelake.dfs.fabric.microsoft.com/lh_config.Lakehouse/Files/fabgen/wheels/{name}"
        )
    # names mapped by the environment, and runtime.wheel_path
    settings = yaml.safe_load((root / "fabgen.yaml").read_text())
    settings["environments"]["test"] = {
        "workspaces": {"DEV_WORKSPACE": {"name": "TEST_WS", "id": WORKSPACE_ID}},  # only one of the two ids
        "lakehouses": {"DEV_WORKSPACE/lh_config": {"name": "lh_config_test"}},
    }
    settings["runtime"]["wheel_path"] = "/Files/libs/"
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    target = runtime_wheel_file(*_mapping(root, "test"), "0.1.0")
    assert (target.workspace, target.path) == ("TEST_WS", f"lh_config_test.Lakehouse/Files/libs/{name}")


@pytest.mark.parametrize("path", ["fabgen/wheels", "Files/../Tables", "Tables/x", "Files//x", "Files\\x", ""])
def test_wheel_path_must_be_a_folder_under_files(tmp_path: Path, path: str) -> None:
    root = write_project(tmp_path / "p")
    settings = yaml.safe_load((root / "fabgen.yaml").read_text())
    settings["runtime"]["wheel_path"] = path
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(ConfigError, match=r"must be a folder under the lakehouse's Files/"):
        load_project(root)


def test_the_same_bytes_are_size_and_stored_sha256(tmp_path: Path) -> None:
    import hashlib

    from fabgen.onelake import RemoteFile, same_bytes

    data = b"wheel bytes"
    digest = hashlib.sha256(data).hexdigest()
    assert same_bytes(RemoteFile(len(data), digest), data)
    assert not same_bytes(None, data)
    assert not same_bytes(RemoteFile(len(data), None), data)  # put there by hand: no digest stored
    assert not same_bytes(RemoteFile(len(data) + 1, digest), data)
    assert not same_bytes(RemoteFile(len(data), hashlib.sha256(b"other").hexdigest()), data)


def test_onelake_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from fabgen.onelake import onelake_account_url, onelake_api, storage_credential

    for name in ("FABGEN_ONELAKE_URL", "FABGEN_ONELAKE_API", "FABGEN_ONELAKE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert onelake_account_url() == "https://onelake.dfs.fabric.microsoft.com"
    assert onelake_api() == "dfs"
    deploy_credential = StaticTokenCredential("fabric-token")
    assert storage_credential(deploy_credential) is deploy_credential
    monkeypatch.setenv("FABGEN_ONELAKE_URL", "https://127.0.0.1:1234/onelake/")
    monkeypatch.setenv("FABGEN_ONELAKE_API", "blob")
    monkeypatch.setenv("FABGEN_ONELAKE_TOKEN", "storage-token")
    assert onelake_account_url() == "https://127.0.0.1:1234/onelake"
    assert onelake_api() == "blob"
    assert storage_credential(deploy_credential).get_token("https://storage.azure.com/.default").token == (
        "storage-token"
    )
    monkeypatch.setenv("FABGEN_ONELAKE_API", "s3")
    with pytest.raises(ConfigError, match="FABGEN_ONELAKE_API: must be dfs or blob, got 's3'"):
        onelake_api()


def test_an_upload_error_is_one_line_with_status_code_and_message() -> None:
    from azure.core.exceptions import ResourceNotFoundError, ServiceRequestError
    from fabgen.onelake import _cause

    refused = ServiceRequestError(
        "<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection:\n"
        "[Errno 111] Connection refused"
    )
    assert _cause(refused) == (
        "<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: "
        "[Errno 111] Connection refused"
    )
    missing = ResourceNotFoundError(
        "The specified container does not exist.\nRequestId:1\nTime:2026\nErrorCode:ContainerNotFound"
    )
    missing.error_code = "ContainerNotFound"
    assert _cause(missing) == "ContainerNotFound The specified container does not exist."
    head = ResourceNotFoundError("Operation returned an invalid status 'Not Found'\nErrorCode:BlobNotFound")
    head.error_code = "BlobNotFound"
    assert _cause(head) == "BlobNotFound Not Found"


def test_dry_run_without_a_credential_lists_the_upload_unchecked(tmp_path: Path) -> None:
    from fabgen.onelake import OneLakeFile, check_wheel_upload

    wheel = make_wheel(tmp_path)
    target = OneLakeFile(WORKSPACE_ID, f"lh.Lakehouse/Files/fabgen/wheels/{wheel.name}")
    step = check_wheel_upload(target, wheel, None)
    assert (step.verb, step.reason) == ("upload", "not checked: no credential")
    assert str(step) == f"upload  Wheel        {target.abfss}  (not checked: no credential)"
