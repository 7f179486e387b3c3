"""The self-test notebooks ``fabgen render`` writes beside the groups' notebooks.

``fabgen_selftest`` (a Spark notebook, always) and ``fabgen_selftest_python`` (a Fabric Python
notebook, when a group with an active export has ``engine: python``) run
:mod:`fabgen_runtime.selftest` once per workspace (docs/render.md, docs/runtimes.md "Checked in a
workspace: the self-test"). They are rendered from the whole project (every group with an active
export, whatever ``--group`` says), so every render writes the same two notebooks:

    fabgen_selftest.Notebook/.platform, notebook-content.py        templates/selftest.j2
    fabgen_selftest_python.Notebook/.platform, notebook-content.py templates/selftest_python.j2
    ipynb/fabgen_selftest.ipynb, ipynb/fabgen_selftest_python.ipynb

The templates see what a group's notebook template sees (:func:`fabgen.render.notebook_context` of
the project's first group of that engine, over every active export), with ``engine``,
``runtime.install`` and ``notebook_name`` set for the self-test, plus ``checks`` (the checks of that
notebook kind, from :data:`fabgen_runtime.selftest.CHECKS`) and ``target_lakehouses``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import jinja2
from fabgen_runtime.config import ExportConfig
from fabgen_runtime.errors import ConfigIssue
from fabgen_runtime.selftest.model import PYTHON, SPARK, checks_for

from . import items
from .notebook import KERNEL, PYTHON_KERNEL, EnvironmentDependency, Notebook, to_fabric_py, to_ipynb

if TYPE_CHECKING:
    from .environments import EnvironmentMapping
    from .project import Project
    from .render import Rendered

NAMES = {SPARK: "fabgen_selftest", PYTHON: "fabgen_selftest_python"}
TEMPLATES = {SPARK: "selftest.j2", PYTHON: "selftest_python.j2"}


def owned_patterns(ipynb_folder: str) -> list[re.Pattern[str]]:
    """The files of the self-test notebooks (a render removes the stale ones)."""
    names = "|".join(re.escape(name) for name in NAMES.values())
    return [
        re.compile(rf"^(?:{names})\.Notebook/"),
        re.compile(rf"^{re.escape(ipynb_folder)}/(?:{names})\.ipynb$"),
    ]


def _active(project: Project) -> list[ExportConfig]:
    """Every active export of the project, by group then name."""
    active = [c for c in project.configs if c.is_active]
    return sorted(active, key=lambda c: (c.export_group_name, c.export_name))


def engines(project: Project) -> list[str]:
    """The self-test notebooks the project gets: Spark always, Python when a python group is active."""
    groups = {c.export_group_name for c in _active(project)}
    return [SPARK, *([PYTHON] if any(project.engine(g) == PYTHON for g in groups) else [])]


def target_lakehouses(mapping: EnvironmentMapping, configs: list[ExportConfig]) -> list[dict[str, str]]:
    """The target lakehouses of ``configs`` in this environment's names, once each, in order."""
    found: list[dict[str, str]] = []
    for config in configs:
        target = {
            "workspace": mapping.workspace(config.target_workspace),
            "lakehouse": mapping.lakehouse(config.target_workspace, config.target_lakehouse),
        }
        if target not in found:
            found.append(target)
    return found


def selftest_context(project: Project, mapping: EnvironmentMapping, engine: str) -> dict[str, Any]:
    """What the self-test templates see (see the module's docstring)."""
    from .render import notebook_context

    configs = _active(project)
    groups = [c.export_group_name for c in configs]
    group = next((g for g in groups if project.engine(g) == engine), groups[0])
    execution_group = min(c.execution_group for c in configs if c.export_group_name == group)
    context = notebook_context(
        project, mapping, group, execution_group, [execution_group], mapping.rows(configs), configs
    )
    install = "inline" if engine == PYTHON else project.settings.runtime.install
    context.update(
        engine=engine,
        notebook_name=NAMES[engine],
        runtime={**context["runtime"], "install": install},
        checks=[{"name": c.name, "assumption": c.assumption, "doc": c.doc} for c in checks_for(engine)],
        target_lakehouses=target_lakehouses(mapping, configs),
    )
    return context


def selftest_notebook(
    env: jinja2.Environment, project: Project, mapping: EnvironmentMapping, engine: str
) -> Notebook:
    """The model of one self-test notebook."""
    from .render import TemplateError, render_template, split_cells

    context = selftest_context(project, mapping, engine)
    cells = split_cells(render_template(env, TEMPLATES[engine], context))
    if not any(cell.kind == "parameters" for cell in cells):
        raise TemplateError(ConfigIssue("templates", TEMPLATES[engine], "renders no parameters cell"))
    environment = None
    if context["runtime"]["install"] == "environment":
        environment = EnvironmentDependency(items.environment_logical_id(project.settings.name))
    return Notebook(
        cells,
        lakehouse=mapping.lakehouse_dependency(project.settings, _active(project)),
        environment=environment,
        kernel=PYTHON_KERNEL if engine == PYTHON else KERNEL,
    )


def add_selftests(
    rendered: Rendered, project: Project, mapping: EnvironmentMapping, env: jinja2.Environment
) -> None:
    """Add the project's self-test notebooks (item folders and ``.ipynb``) to ``rendered``."""
    from .render import IPYNB_FOLDER

    project_name = project.settings.name
    for engine in engines(project):
        name = NAMES[engine]
        model = selftest_notebook(env, project, mapping, engine)
        logical = items.logical_id(project_name, "selftest", engine)
        kind = "a Fabric Python notebook" if engine == PYTHON else "a Spark notebook"
        description = f"fabgen: the self-test of project {project_name} ({kind}; run once per workspace)"
        rendered.add_item(items.notebook_item(name, logical, to_fabric_py(model), description))
        rendered.files[f"{IPYNB_FOLDER}/{name}.ipynb"] = to_ipynb(model)
