"""``fabgen render``: export configs -> one notebook per execution group, plus a pipeline per group.

Each notebook comes from the Jinja template ``notebook.j2``, which includes one small template per
cell (``cells/*.j2``). A cell template starts with ``{{ cell("markdown" | "code" | "parameters") }}``;
the rendered text is split there into the cells of a :class:`~fabgen.notebook.Notebook`, which is
then written both as Fabric's ``notebook-content.py`` and as ``.ipynb``. A project overrides any
template by putting a file of the same name in its own ``templates/`` folder.

Output layout (relative to ``--out``)::

    <G>_eg<N>.Notebook/.platform, notebook-content.py     one per execution group N of group G
    <G>_pipeline.DataPipeline/.platform, pipeline-content.json
    <project>_env.Environment/.platform, Libraries/CustomLibraries/<wheel>, Setting/Sparkcompute.yml
                                                           with runtime.install: environment
    ipynb/<G>_eg<N>.ipynb                                  the same notebook, for local runs

The folder is a complete set of Fabric items: Git integration or fabric-cicd can take it as it is
(every id a notebook or pipeline names is an item of the folder, by logicalId, or an id that
``fabgen.yaml`` supplies for the environment; see :mod:`fabgen.environments`).

Rendering is deterministic: the same project, templates and versions give byte-identical files.
"""

from __future__ import annotations

import importlib.resources
import logging
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fabgen_runtime
import jinja2
from fabgen_runtime.config import ExportConfig
from fabgen_runtime.configs import parse_configs
from fabgen_runtime.errors import ConfigError, ConfigIssue

from . import __version__, items
from .environments import EnvironmentMapping, environment_mapping
from .fabric_environment import environment_item, environment_item_name
from .items import Item
from .notebook import KERNEL, PYTHON_KERNEL, Cell, EnvironmentDependency, Notebook, to_fabric_py, to_ipynb
from .onelake import runtime_wheel_file, wheel_folder
from .project import Project
from .pyliteral import py_literal
from .wheel import WheelInfo, cached_runtime_wheel, wheel_filename, wheel_payload

log = logging.getLogger(__name__)

NOTEBOOK_TEMPLATE = "notebook.j2"
PYTHON_NOTEBOOK_TEMPLATE = "notebook_python.j2"  # groups with engine: python (Fabric Python notebooks)
PROJECT_TEMPLATES = "templates"
IPYNB_FOLDER = "ipynb"
LAKEHOUSE_MOUNT = "/lakehouse/default"

_CELL_MARKER = "\x1efabgen-cell:{}\x1e"
_CELL_LINE = re.compile(r"^\x1efabgen-cell:(markdown|code|parameters)\x1e$")


class TemplateError(ConfigError):
    """A template is missing, broken, or renders something that is not a notebook."""


@dataclass
class Rendered:
    """Everything one render produced: files by relative path (posix), and the groups rendered."""

    files: dict[str, str | bytes] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    project: str = ""
    items: list[Item] = field(default_factory=list)
    notebooks: dict[str, Notebook] = field(default_factory=dict)  # notebook name -> model

    def add_item(self, item: Item) -> None:
        """Add an item folder's files."""
        self.items.append(item)
        for name, text in item.files.items():
            self.files[f"{item.folder}/{name}"] = text

    def owns(self, path: str) -> bool:
        """True when ``path`` (relative, posix) is where this render's groups keep their output."""
        return any(pattern.match(path) for pattern in _owned_patterns(self.groups, self.project))


def _owned_patterns(groups: Iterable[str], project: str = "") -> list[re.Pattern[str]]:
    from .selftest_render import owned_patterns as selftest_patterns

    patterns = []
    if project:
        patterns.append(re.compile(rf"^{re.escape(environment_item_name(project))}\.Environment/"))
        patterns += selftest_patterns(IPYNB_FOLDER)  # the self-test notebooks (whole project, every render)
    for group in groups:
        safe = re.escape(items.safe_name(group))
        patterns += [
            re.compile(rf"^{safe}_eg\d+\.Notebook/"),
            re.compile(rf"^{safe}_pipeline\.DataPipeline/"),
            re.compile(rf"^{IPYNB_FOLDER}/{safe}_eg\d+\.ipynb$"),
        ]
    return patterns


# --------------------------------------------------------------------------- templates


def builtin_templates() -> Path:
    """The folder of fabgen's own templates (package ``fabgen.templates``)."""
    return Path(str(importlib.resources.files("fabgen.templates")))


def template_environment(project_root: Path | None = None) -> jinja2.Environment:
    """Jinja environment: the project's ``templates/`` first, then fabgen's; StrictUndefined."""
    loaders: list[jinja2.BaseLoader] = []
    if project_root is not None and (project_root / PROJECT_TEMPLATES).is_dir():
        loaders.append(jinja2.FileSystemLoader(str(project_root / PROJECT_TEMPLATES)))
    loaders.append(jinja2.FileSystemLoader(str(builtin_templates())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["py"] = py_literal
    env.filters["md"] = md_escape
    env.globals["cell"] = _CELL_MARKER.format
    return env


def md_escape(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def split_cells(text: str) -> tuple[Cell, ...]:
    """Cut a rendered notebook template into cells at its ``cell(...)`` markers.

    Blank lines around each cell and trailing spaces are dropped; a cell left empty (all of its
    content inside a false ``{% if %}``) is left out.
    """
    cells: list[Cell] = []
    kind: str | None = None
    lines: list[str] = []

    def flush() -> None:
        source = "\n".join(line.rstrip() for line in lines).strip("\n")
        if kind is not None and source.strip():
            cells.append(Cell(kind, source))  # type: ignore[arg-type]

    for line in text.split("\n"):
        match = _CELL_LINE.match(line)
        if match:
            flush()
            kind, lines = match.group(1), []
        elif kind is None:
            if line.strip():
                raise TemplateError(f"template text before the first cell(...) marker: {line!r}")
        else:
            lines.append(line)
    flush()
    if sum(cell.kind == "parameters" for cell in cells) > 1:
        raise TemplateError("a notebook can have only one parameters cell")
    return tuple(cells)


def render_template(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    """Render one template, turning Jinja's errors into a fabgen config error naming the template."""
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(ConfigIssue("templates", name, f"template not found: {exc.name}")) from None
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name}:{exc.lineno}"
        raise TemplateError(ConfigIssue("templates", where, f"syntax error: {exc.message}")) from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(ConfigIssue("templates", name, f"undefined: {exc.message}")) from None


# --------------------------------------------------------------------------- rendering


def _embedded_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row as embedded in a notebook: unset (None) and empty values left out."""
    return {key: value for key, value in row.items() if value is not None and value != {}}


def notebook_context(
    project: Project,
    mapping: EnvironmentMapping,
    group: str,
    execution_group: int,
    execution_groups: list[int],
    rows: list[dict[str, Any]],
    configs: list[ExportConfig] | None = None,
) -> dict[str, Any]:
    """What the notebook templates see (docs/render.md); ``configs``: the rows before mapping."""
    settings = project.settings
    runtime_version = fabgen_runtime.__version__
    ref = settings.config_lakehouse
    wheel = f"{LAKEHOUSE_MOUNT}/{wheel_folder(settings)}/{wheel_filename(runtime_version)}"
    inline = settings.inline_install(group)
    return {
        "project": settings.name,
        "group": group,
        "engine": settings.engine(group),
        "vcores": settings.vcores(group),
        "execution_group": execution_group,
        "execution_groups": execution_groups,
        "notebook_name": items.notebook_name(group, execution_group),
        "pipeline_name": items.pipeline_name(group),
        "exports": parse_configs(rows),
        "rows": [_embedded_row(row) for row in rows],
        "config_lakehouse": {
            "workspace": mapping.workspace(ref.workspace),
            "lakehouse": mapping.lakehouse(ref.workspace, ref.lakehouse),
        },
        "defaults": {
            "timezone": settings.defaults.timezone,
            "max_concurrency": settings.defaults.max_concurrency,
        },
        "runtime": {
            "install": "inline" if inline else settings.runtime.install,
            "wheel": wheel,  # Spark notebooks' inline %pip: under the default lakehouse's mount
            # Python notebooks: the wheel `fabgen deploy` uploads to the config lakehouse (abfss URI)
            "wheel_uri": runtime_wheel_file(settings, mapping, runtime_version).abfss,
            "spark_runtime": settings.runtime.spark_runtime,
        },
        "environment": mapping.name,
        "items": mapping.catalog(settings, configs or []),
        "fabgen_version": __version__,
        "runtime_version": runtime_version,
    }


def render_notebook(
    env: jinja2.Environment,
    context: dict[str, Any],
    mapping: EnvironmentMapping,
    project: Project,
    configs: list[ExportConfig],
) -> Notebook:
    """One execution group's notebook model (a Fabric Python notebook for an ``engine: python`` group)."""
    python = context["engine"] == "python"
    template = PYTHON_NOTEBOOK_TEMPLATE if python else NOTEBOOK_TEMPLATE
    cells = split_cells(render_template(env, template, context))
    if not any(cell.kind == "parameters" for cell in cells):
        raise TemplateError(ConfigIssue("templates", template, "renders no parameters cell"))
    environment = None
    if context["runtime"]["install"] == "environment":
        # The project's Environment item (fabgen.fabric_environment) holds the runtime wheel.
        environment = EnvironmentDependency(items.environment_logical_id(project.settings.name))
    return Notebook(
        cells,
        lakehouse=mapping.lakehouse_dependency(project.settings, configs),
        environment=environment,
        kernel=PYTHON_KERNEL if python else KERNEL,
    )


def _render_groups(project: Project, group: str | None) -> list[str]:
    if group is not None:
        project.select(group)  # raises ConfigError when the group has no active export
        return [group]
    active = {c.export_group_name for c in project.configs if c.is_active}
    groups = [g for g in project.groups() if g in active]
    skipped = sorted(set(project.groups()) - set(groups))
    if skipped:
        log.info("skipping group(s) without an active export: %s", ", ".join(skipped))
    if not groups:
        raise ConfigError(ConfigIssue("project", None, "no active export to render"))
    return groups


def render_project(
    project: Project, group: str | None = None, environment: str | None = None, wheel: WheelInfo | None = None
) -> Rendered:
    """Render ``group`` (every group with an active export when None) for ``environment``.

    With ``runtime.install: environment`` the project's Environment item is part of the render,
    holding ``wheel`` (default: the runtime wheel of the current sources, built once and cached).
    """
    mapping = environment_mapping(project.settings, environment)
    env = template_environment(project.root)
    settings = project.settings
    rendered = Rendered(project=settings.name)
    groups = _render_groups(project, group)
    selected = [c for g in groups for c in project.select(g)]
    missing = mapping.missing(settings, selected)
    if missing:
        raise ConfigError(missing)
    if environment is None and any(settings.default_lakehouse_install(g) for g in groups):
        log.warning(
            "inline install in a Spark notebook needs the config lakehouse as the notebook's default "
            "lakehouse, and a render without --env knows no ids: these notebooks have none (render with "
            "--env E to attach it)"
        )
    for name in groups:
        configs = sorted(project.select(name), key=lambda c: c.export_name)
        rows = mapping.rows(configs)
        execution_groups = sorted({c.execution_group for c in configs})
        notebooks: list[tuple[str, str]] = []
        for eg in execution_groups:
            chosen = [i for i, c in enumerate(configs) if c.execution_group == eg]
            eg_rows, eg_configs = [rows[i] for i in chosen], [configs[i] for i in chosen]
            context = notebook_context(project, mapping, name, eg, execution_groups, eg_rows, eg_configs)
            model = render_notebook(env, context, mapping, project, eg_configs)
            nb_name = items.notebook_name(name, eg)
            logical = items.notebook_logical_id(settings.name, name, eg)
            description = f"fabgen: exports of group {name}, execution group {eg}"
            rendered.add_item(items.notebook_item(nb_name, logical, to_fabric_py(model), description))
            rendered.files[f"{IPYNB_FOLDER}/{nb_name}.ipynb"] = to_ipynb(model)
            rendered.notebooks[nb_name] = model
            notebooks.append((nb_name, logical))
        defaults = settings.defaults
        parameters = items.pipeline_parameters(
            defaults.timezone, defaults.max_concurrency, settings.vcores(name)
        )
        rendered.add_item(
            items.pipeline_item(
                settings.name,
                name,
                notebooks,
                parameters,
                inline_install=settings.inline_install(name),
                description=f"fabgen: runs the execution groups of {name} in order",
            )
        )
        rendered.groups.append(name)
    runtime = settings.runtime
    if runtime.install == "environment":
        wheel = wheel or cached_runtime_wheel()
        item = environment_item(settings.name, wheel, runtime.spark_runtime, runtime.spark_compute)
        rendered.add_item(item)
    from .selftest_render import add_selftests  # fabgen_selftest(_python): docs/render.md

    add_selftests(rendered, project, mapping, env)
    return rendered


# --------------------------------------------------------------------------- disk


def _on_disk(out_dir: Path, rendered: Rendered) -> dict[str, Path]:
    if not out_dir.is_dir():
        return {}
    found = {}
    for path in sorted(out_dir.rglob("*")):
        if path.is_file():
            relative = path.relative_to(out_dir).as_posix()
            if rendered.owns(relative):
                found[relative] = path
    return found


def _data(content: str | bytes) -> bytes:
    return content if isinstance(content, bytes) else content.encode("utf-8")


def _same(relative: str, on_disk: bytes, data: bytes) -> bool:
    """Equal content; a wheel is equal when it installs the same files (its build tool may differ)."""
    if on_disk == data:
        return True
    if relative.endswith(".whl"):
        try:
            return wheel_payload(on_disk) == wheel_payload(data)
        except zipfile.BadZipFile:
            return False
    return False


def check_output(rendered: Rendered, out_dir: Path) -> list[tuple[str, str]]:
    """How ``out_dir`` differs from ``rendered``: ``(path, "missing" | "differs" | "stale")``, sorted."""
    existing = _on_disk(out_dir, rendered)
    problems = []
    for relative, content in sorted(rendered.files.items()):
        path = out_dir / relative
        if not path.is_file():
            problems.append((relative, "missing"))
        elif not _same(relative, path.read_bytes(), _data(content)):
            problems.append((relative, "differs"))
    problems += [(relative, "stale") for relative in existing if relative not in rendered.files]
    return sorted(problems)


def write_output(rendered: Rendered, out_dir: Path) -> list[tuple[str, str]]:
    """Write ``rendered`` under ``out_dir``; remove the rendered groups' stale files.

    Returns ``(path, "created" | "updated" | "unchanged" | "removed")`` per file, sorted. Files
    whose content is unchanged are not rewritten.
    """
    existing = _on_disk(out_dir, rendered)
    report = []
    for relative, content in sorted(rendered.files.items()):
        path = out_dir / relative
        data = _data(content)
        if path.is_file() and _same(relative, path.read_bytes(), data):
            report.append((relative, "unchanged"))
            continue
        status = "updated" if path.exists() else "created"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        report.append((relative, status))
    for relative, path in existing.items():
        if relative not in rendered.files:
            path.unlink()
            report.append((relative, "removed"))
            parent = path.parent
            while parent != out_dir and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
    return sorted(report)
