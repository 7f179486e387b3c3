"""``fabgen verify``'s sources of files: the local OneLake, or (``--env E``) environment E's workspace.

With ``--env E`` the group's rows are renamed as E names them (:class:`~fabgen.environments.
EnvironmentMapping`: workspaces, lakehouses, their ids), and each target lakehouse's ``Files`` is read
over OneLake through delta-rs's object store (:class:`fabgen.onelake_read.OneLakeFileStore`): the
manifests, the owner records, and every published file (hashed as it streams).
"""

from __future__ import annotations

from fabgen_runtime.protocol.store import FileStore

from .project import Project
from .verify import VerifyReport, local_files, verify


def verify_project(project: Project, group: str, export: str | None, env: str | None) -> VerifyReport:
    """:func:`fabgen.verify.verify` of ``group`` (one export, or all) locally or in ``env``."""
    configs = project.select(group, export, active_only=False)
    if env is None:
        from fabgen_runtime import platform as platform_mod

        from .local_run import local_runtime

        with local_runtime(project) as local:
            return verify(group, configs, local_files(lambda ws, lh: platform_mod.files_uri(local, ws, lh)))

    from .onelake_read import workspace

    with workspace(project, env) as remote:
        stores: dict[str, FileStore] = {}

        def files_of(ws: str, lh: str) -> tuple[str, FileStore]:
            root = remote.files_uri(ws, lh)
            if root not in stores:
                stores[root] = remote.file_store(root)
            return root, stores[root]

        return verify(group, remote.configs(configs), files_of, env)
