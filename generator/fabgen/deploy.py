"""``fabgen deploy --env E``: render for E, add the runtime, publish with Microsoft's fabric-cicd.

Steps:

1. render every group for environment E (:func:`fabgen.render.render_project`) into the deploy
   folder ``<project>/.fabgen/deploy/<E>/`` (wiped first: it holds only what this deploy publishes);
2. build the runtime wheel (:mod:`fabgen.wheel`); with ``runtime.install: environment`` the render
   holds it in the Environment item (:mod:`fabgen.fabric_environment`);
3. when a notebook installs the runtime in-line (a Python notebook, or ``runtime.install: inline``),
   upload the wheel to the config lakehouse's ``<runtime.wheel_path>/`` through OneLake's ADLS Gen2
   API (:mod:`fabgen.onelake`), skipped when the same bytes are there; a failed upload stops the
   deploy before any item is published;
4. ``FabricWorkspace(workspace_id, environment=E, repository_directory=<deploy folder>,
   item_type_in_scope=[Environment, Notebook, DataPipeline])`` and ``publish_all_items``;
5. with ``--prune``, ``unpublish_all_orphan_items`` per item type, limited by an exclude regex to the
   orphans fabgen owns (:func:`fabgen.deploy_plan.owned`: fabgen's naming and a ``fabgen:``
   description). Anything else in the workspace is never touched, and neither are workspace
   folders (fabgen sets fabric-cicd's ``disable_workspace_folder_publish``).

``--dry-run`` renders and lists what would be created, updated or removed, reading the workspace's
item list when a credential is available (a GET; nothing is written), else just what would be published;
the wheel's upload is a step of its own (``upload`` or ``skip``, checked with a HEAD on OneLake).

Auth (:func:`resolve_credential`): ``FABGEN_FABRIC_TOKEN`` (a bearer token you obtained), else a service
principal from ``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/``AZURE_CLIENT_SECRET``, else the Azure CLI login.
``FABGEN_FABRIC_API_URL`` points fabric-cicd at another API root (tests use a local server).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabgen_runtime.errors import ConfigError, ConfigIssue, FabgenError
from fabgen_runtime.platform import is_guid

from .deploy_plan import ITEM_TYPES, Action, ItemRef, only_these_regex, plan_actions, scan_items
from .environments import environment_mapping
from .onelake import OneLakeFile, UploadError, WheelStep, check_wheel_upload, runtime_wheel_file, upload_wheel
from .project import Project
from .wheel import WheelInfo, build_runtime_wheel, check_wheel, read_wheel

log = logging.getLogger(__name__)

FABRIC_SCOPE = "https://api.fabric.microsoft.com/.default"
TOKEN_ENV = "FABGEN_FABRIC_TOKEN"
API_URL_ENV = "FABGEN_FABRIC_API_URL"
DEFAULT_API_URL = "https://api.fabric.microsoft.com"
SP_ENV = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET")
_ENV_NAME = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9_.-]+$")  # a folder name under .fabgen/deploy/


class DeployError(FabgenError):
    """Publishing to Fabric failed (fabric-cicd, HTTP or authentication)."""


class CredentialError(DeployError):
    """No Fabric token could be obtained (no login, no service principal, bad secret)."""


@dataclass
class DeployResult:
    """What ``deploy_project`` did (or, with ``dry_run``, would do)."""

    environment: str
    workspace_id: str
    folder: Path
    wheel: WheelInfo
    actions: list[Action]
    dry_run: bool
    workspace_listed: bool  # False: no credential for a dry run, so creates/updates/removals are unknown
    notes: list[str] = field(default_factory=list)
    wheel_step: WheelStep | None = None  # the wheel's upload to OneLake (in-line installation only)


# --------------------------------------------------------------------------- preparing the folder


def target_workspace(project: Project, env: str) -> str:
    """Environment ``env``'s ``workspace_id`` (a GUID); ConfigError when unknown or missing."""
    environments = project.settings.environments
    if env not in environments:
        known = ", ".join(sorted(environments)) or "none defined in fabgen.yaml"
        raise ConfigError(
            ConfigIssue("fabgen.yaml", "environments", f"no environment {env!r} (known: {known})")
        )
    workspace_id = environments[env].workspace_id
    if workspace_id is None or not is_guid(workspace_id):
        message = f"needs workspace_id (a GUID) to deploy, got {workspace_id!r}"
        raise ConfigError(ConfigIssue("fabgen.yaml", f"environments.{env}.workspace_id", message))
    return workspace_id


def deploy_folder(project: Project, env: str) -> Path:
    """Where ``fabgen deploy --env env`` stages the items it publishes (wiped on every deploy)."""
    if not _ENV_NAME.match(env):
        message = "an environment to deploy must be named with letters, digits, '_', '-' or '.'"
        raise ConfigError(ConfigIssue("fabgen.yaml", f"environments.{env}", message))
    return project.root / ".fabgen" / "deploy" / env


def prebuilt_wheel(path: Path) -> WheelInfo:
    """A wheel built before (``fabgen build-runtime``), checked, of the runtime version fabgen renders for."""
    import fabgen_runtime

    if not path.is_file():
        raise DeployError(f"--wheel {path}: no such file")
    info = check_wheel(read_wheel(path))
    if info.version != fabgen_runtime.__version__:
        needed = fabgen_runtime.__version__
        raise DeployError(f"--wheel {path.name} is runtime {info.version}; the notebooks need {needed}")
    return info


def prepare(project: Project, env: str, folder: Path, wheel: Path | None = None) -> WheelInfo:
    """Render for ``env`` into ``folder`` (wiped): the notebooks, pipelines and the Environment item.

    The wheel is ``wheel`` (checked) or a fresh build into ``<folder>-wheel/``; the render puts it in
    the Environment item (``runtime.install: environment``).
    """
    from .render import render_project

    wheel_dir = folder.parent / f"{env}-wheel"
    info = prebuilt_wheel(wheel) if wheel is not None else build_runtime_wheel(wheel_dir)
    rendered = render_project(project, environment=env, wheel=info)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for item in rendered.items:
        for name, content in item.files.items():
            path = folder / item.folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return info


# --------------------------------------------------------------------------- auth


class StaticTokenCredential:
    """A ``TokenCredential`` returning one bearer token (``FABGEN_FABRIC_TOKEN``, or tests)."""

    def __init__(self, token: str, expires_on: int | None = None):
        self.token = token
        self.expires_on = expires_on or _jwt_expiry(token) or int(time.time()) + 3600

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, self.expires_on)


def _jwt_expiry(token: str) -> int | None:
    """The ``exp`` claim of a JWT-shaped token (not verified: only to know when to stop using it)."""
    parts = token.split(".")
    if len(parts) < 2:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return int(exp) if isinstance(exp, int | float) else None


def resolve_credential() -> Any:
    """``FABGEN_FABRIC_TOKEN``, else a service principal from ``AZURE_*`` variables, else the Azure CLI."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        return StaticTokenCredential(token)
    try:
        from azure.identity import AzureCliCredential, ClientSecretCredential
    except ImportError:
        raise DeployError("azure-identity is not installed: pip install 'fabgen[deploy]'") from None

    client_id, tenant_id, secret = (os.environ.get(name) for name in SP_ENV)
    if client_id and tenant_id and secret:
        return ClientSecretCredential(tenant_id=tenant_id, client_id=client_id, client_secret=secret)
    return AzureCliCredential()


def describe_credential(credential: Any) -> str:
    return {
        "StaticTokenCredential": f"token from {TOKEN_ENV}",
        "ClientSecretCredential": "service principal (AZURE_CLIENT_ID)",
        "AzureCliCredential": "Azure CLI login",
    }.get(type(credential).__name__, type(credential).__name__)


def api_url() -> str:
    """The Fabric REST API root: ``FABGEN_FABRIC_API_URL`` or Fabric's public endpoint."""
    return (os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")


# --------------------------------------------------------------------------- fabric-cicd


def _one_line(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)  # fabric-cicd's PublishError: [(item name, exception), ...]
    text = str(exc)
    if errors:
        text += ": " + "; ".join(f"{name}: {err}" for name, err in errors)
    text = " ".join(text.split())
    return text if len(text) <= 600 else text[:597] + "..."


@contextmanager
def fabric_cicd_session(debug: bool = False) -> Iterator[Any]:
    """Import fabric-cicd without letting it take over logging, point it at ``api_url()``, restore after.

    fabric-cicd sets the root logger to ERROR, adds its own console handler and replaces
    ``sys.excepthook`` when imported; it reads its API root from module constants.
    """
    root = logging.getLogger()
    saved_level, saved_hook = root.level, sys.excepthook
    try:
        import fabric_cicd
        from fabric_cicd import constants
    except ImportError:
        raise DeployError("fabric-cicd is not installed: pip install 'fabgen[deploy]'") from None
    finally:
        root.setLevel(saved_level)
        sys.excepthook = saved_hook
    # fabgen reports failures itself, in one line; fabric-cicd's own log shows with --debug.
    logging.getLogger("fabric_cicd").setLevel(logging.DEBUG if debug else logging.CRITICAL)
    saved = (constants.DEFAULT_API_ROOT_URL, constants.FABRIC_API_ROOT_URL, set(constants.FEATURE_FLAG))
    if os.environ.get(API_URL_ENV):
        constants.DEFAULT_API_ROOT_URL = constants.FABRIC_API_ROOT_URL = api_url()
    # fabgen's items live at the workspace root; never create, move or delete workspace folders.
    constants.FEATURE_FLAG.add("disable_workspace_folder_publish")
    try:
        yield fabric_cicd
    finally:
        constants.DEFAULT_API_ROOT_URL, constants.FABRIC_API_ROOT_URL = saved[0], saved[1]
        constants.FEATURE_FLAG.clear()
        constants.FEATURE_FLAG.update(saved[2])


def list_workspace_items(workspace_id: str, credential: Any) -> list[ItemRef]:
    """Every item of the workspace (GET ``/v1/workspaces/{id}/items``, following continuations)."""
    import requests
    from azure.core.exceptions import ClientAuthenticationError

    try:
        token = credential.get_token(FABRIC_SCOPE).token
    except ClientAuthenticationError as exc:
        how = describe_credential(credential)
        raise CredentialError(f"cannot get a Fabric token ({how}): {_one_line(exc)}") from exc
    url: str | None = f"{api_url()}/v1/workspaces/{workspace_id}/items"
    found: list[ItemRef] = []
    while url:
        try:
            response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        except requests.RequestException as exc:
            raise DeployError(f"cannot list the items of workspace {workspace_id}: {_one_line(exc)}") from exc
        if response.status_code != 200:
            detail = response.headers.get("x-ms-public-api-error-code") or response.text[:200]
            raise DeployError(
                f"listing workspace {workspace_id} failed: HTTP {response.status_code} {detail}"
            )
        body = response.json()
        found += [
            ItemRef(v["type"], v["displayName"], v.get("description") or "") for v in body.get("value", [])
        ]
        url = body.get("continuationUri")
    return found


def publish(
    folder: Path, workspace_id: str, env: str, credential: Any, prune: list[ItemRef], debug: bool
) -> None:
    """Publish ``folder`` with fabric-cicd, then remove exactly the ``prune`` items."""
    with fabric_cicd_session(debug) as fabric_cicd:
        try:
            workspace = fabric_cicd.FabricWorkspace(
                workspace_id=workspace_id,
                environment=env,
                repository_directory=str(folder),
                item_type_in_scope=list(ITEM_TYPES),
                token_credential=credential,
            )
            fabric_cicd.publish_all_items(workspace)
            for item_type in reversed(ITEM_TYPES):  # fabric-cicd's unpublish order
                names = [p.name for p in prune if p.type == item_type]
                if names:
                    workspace.item_type_in_scope = [item_type]
                    fabric_cicd.unpublish_all_orphan_items(
                        workspace, item_name_exclude_regex=only_these_regex(names)
                    )
        except FabgenError:
            raise
        except Exception as exc:  # fabric-cicd raises bare Exceptions: keep the cause, say it in one line
            raise DeployError(f"deploy to workspace {workspace_id} ({env}) failed: {_one_line(exc)}") from exc


def deploy_project(
    project: Project,
    env: str,
    *,
    prune: bool = False,
    dry_run: bool = False,
    credential: Any = None,
    wheel: Path | None = None,
    debug: bool = False,
) -> DeployResult:
    """Render ``project`` for ``env`` and publish it (or, with ``dry_run``, say what would change).

    ``wheel``: a runtime wheel built before (one artifact for every environment); built now when None.
    """
    workspace_id = target_workspace(project, env)
    folder = deploy_folder(project, env)
    built = prepare(project, env, folder, wheel)
    local = scan_items(folder)
    notes: list[str] = []
    target = wheel_target(project, env, built)
    if dry_run:
        deployed = None
        credential = credential or resolve_credential()
        try:
            deployed = list_workspace_items(workspace_id, credential)
        except CredentialError as exc:
            notes.append(f"no credential ({exc}); listing what would be published")
        actions = plan_actions(local, deployed, project.settings.name, prune)
        step = None
        if target is not None:
            step = check_wheel_upload(target, built.path, credential if deployed is not None else None)
        listed = deployed is not None
        return DeployResult(env, workspace_id, folder, built, actions, True, listed, notes, step)
    credential = credential or resolve_credential()
    deployed = list_workspace_items(workspace_id, credential)
    actions = plan_actions(local, deployed, project.settings.name, prune)
    to_remove = [a.item for a in actions if a.verb == "remove"]
    step = None
    if target is not None:  # before any item: a notebook published without its wheel could not start
        try:
            step = upload_wheel(target, built.path, credential)
        except UploadError as exc:
            raise DeployError(f"{exc}; nothing was published") from exc
    publish(folder, workspace_id, env, credential, to_remove, debug)
    if to_remove:
        left = {(i.type, i.name) for i in list_workspace_items(workspace_id, credential)}
        stuck = [f"{i.type} {i.name}" for i in to_remove if (i.type, i.name) in left]
        if stuck:
            raise DeployError(f"published, but could not remove: {', '.join(stuck)}")
    return DeployResult(env, workspace_id, folder, built, actions, False, True, notes, step)


def wheel_target(project: Project, env: str, wheel: WheelInfo) -> OneLakeFile | None:
    """Where the deploy uploads the wheel for ``env``'s in-line installs; None when no notebook has one."""
    rendered = {c.export_group_name for c in project.configs if c.is_active}
    if not any(project.settings.inline_install(g) for g in rendered):
        return None
    mapping = environment_mapping(project.settings, env)
    return runtime_wheel_file(project.settings, mapping, wheel.version)
