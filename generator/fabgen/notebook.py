"""A notebook model and its two serializations: Fabric's ``notebook-content.py`` and ``.ipynb``.

One :class:`Notebook` (cells plus Fabric metadata) is written as:

- ``notebook-content.py``: the source format Fabric Git integration and fabric-cicd use
  (:func:`to_fabric_py`, parsed back by :func:`from_fabric_py`);
- ``.ipynb`` (nbformat 4, no outputs, the parameters cell tagged ``parameters``, kernelspec
  ``synapse_pyspark``), which runs locally under nbval and papermill (:func:`to_ipynb`, parsed back
  by :func:`from_ipynb`).

A Fabric *Python* notebook (no Spark; ``kernel`` :data:`PYTHON_KERNEL`) has the notebook-level
``kernel_info`` ``{"name": "jupyter", "jupyter_kernel_name": "python3.12"}`` and the cell language
group ``jupyter_python``; its ``.ipynb`` has the kernelspec ``python3`` (run locally by the
venv's own ipykernel) and keeps ``kernel_info.name`` ``jupyter``, which decides the kind on the
way back.

Both writers are deterministic: the same model gives byte-identical text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import nbformat

CellKind = Literal["markdown", "code", "parameters"]
CELL_KINDS: tuple[str, ...] = ("markdown", "code", "parameters")

KERNEL = "synapse_pyspark"
KERNEL_DISPLAY_NAME = "Synapse PySpark"
PYTHON_KERNEL = "jupyter"  # Fabric Python notebooks (single node, no Spark)
PYTHON_KERNEL_NAME = "python3.12"  # kernel_info.jupyter_kernel_name: Fabric's default (docs/runtimes.md)
PYTHON_LANGUAGE_GROUP = "jupyter_python"
PYTHON_KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
ZERO_GUID = "00000000-0000-0000-0000-000000000000"

FABRIC_HEADER = "# Fabric notebook source"
_STARS = "*" * 20
MARKERS: dict[str, str] = {
    "code": f"# CELL {_STARS}",
    "parameters": f"# PARAMETERS CELL {_STARS}",
    "markdown": f"# MARKDOWN {_STARS}",
}
METADATA_MARKER = f"# METADATA {_STARS}"
_MARKER_KIND = {marker: kind for kind, marker in MARKERS.items()}
_ANY_MARKER = re.compile(r"^# (CELL|PARAMETERS CELL|MARKDOWN|METADATA) \*{20}$")
_META_PREFIX = "# META"
_MAGIC_PREFIX = "# MAGIC"


class NotebookFormatError(ValueError):
    """Text that is not a notebook in the expected format."""


@dataclass(frozen=True)
class Cell:
    """One cell: its kind and its source (lines joined by ``\\n``, no trailing newline)."""

    kind: CellKind
    source: str

    def __post_init__(self) -> None:
        if self.kind not in CELL_KINDS:
            raise ValueError(f"unknown cell kind {self.kind!r}")

    @property
    def is_magic(self) -> bool:
        """True for a code cell that starts with an IPython magic (``%pip ...``)."""
        return self.kind != "markdown" and self.source.lstrip().startswith("%")


@dataclass(frozen=True)
class LakehouseDependency:
    """The notebook's default lakehouse (and every lakehouse it knows), as Fabric stores it."""

    default_lakehouse: str  # lakehouse id
    default_lakehouse_name: str
    default_lakehouse_workspace_id: str = ZERO_GUID
    known_lakehouses: tuple[str, ...] = ()  # lakehouse ids; the default one is always included, first

    def __post_init__(self) -> None:
        known = (self.default_lakehouse, *(i for i in self.known_lakehouses if i != self.default_lakehouse))
        object.__setattr__(self, "known_lakehouses", known)

    def to_dict(self) -> dict[str, Any]:
        """The ``dependencies.lakehouse`` object."""
        known = self.known_lakehouses
        return {
            "default_lakehouse": self.default_lakehouse,
            "default_lakehouse_name": self.default_lakehouse_name,
            "default_lakehouse_workspace_id": self.default_lakehouse_workspace_id,
            "known_lakehouses": [{"id": lakehouse_id} for lakehouse_id in known],
        }


@dataclass(frozen=True)
class EnvironmentDependency:
    """The Environment item the notebook is attached to."""

    environment_id: str
    workspace_id: str = ZERO_GUID

    def to_dict(self) -> dict[str, Any]:
        """The ``dependencies.environment`` object."""
        return {"environmentId": self.environment_id, "workspaceId": self.workspace_id}


@dataclass(frozen=True)
class Notebook:
    """A notebook: ordered cells plus the Fabric metadata (kernel, default lakehouse, environment)."""

    cells: tuple[Cell, ...]
    lakehouse: LakehouseDependency | None = None
    environment: EnvironmentDependency | None = None
    kernel: str = KERNEL

    def dependencies(self) -> dict[str, Any]:
        """The ``dependencies`` object (lakehouse, environment), empty parts left out."""
        deps: dict[str, Any] = {}
        if self.lakehouse is not None:
            deps["lakehouse"] = self.lakehouse.to_dict()
        if self.environment is not None:
            deps["environment"] = self.environment.to_dict()
        return deps

    @property
    def is_python(self) -> bool:
        """True for a Fabric Python notebook (kernel ``jupyter``, no Spark)."""
        return self.kernel == PYTHON_KERNEL

    def kernel_info(self) -> dict[str, str]:
        """The ``kernel_info`` object (a Python notebook's names its Jupyter kernel too)."""
        if self.is_python:
            return {"name": self.kernel, "jupyter_kernel_name": PYTHON_KERNEL_NAME}
        return {"name": self.kernel}

    def fabric_metadata(self) -> dict[str, Any]:
        """The notebook-level metadata block of ``notebook-content.py``."""
        return {"kernel_info": self.kernel_info(), "dependencies": self.dependencies()}


def _cell_metadata(kernel: str) -> dict[str, str]:
    group = PYTHON_LANGUAGE_GROUP if kernel == PYTHON_KERNEL else kernel
    return {"language": "python", "language_group": group}


def _meta_lines(value: dict[str, Any]) -> list[str]:
    return [f"{_META_PREFIX} {line}" for line in json.dumps(value, indent=2, ensure_ascii=False).split("\n")]


def _prefixed(source: str, prefix: str) -> list[str]:
    return [f"{prefix} {line}" if line else prefix for line in source.split("\n")]


def _unprefixed(lines: list[str], prefix: str) -> list[str]:
    out = []
    for line in lines:
        if line == prefix:
            out.append("")
        elif line.startswith(prefix + " "):
            out.append(line[len(prefix) + 1 :])
        else:
            raise NotebookFormatError(f"expected a line starting with {prefix!r}, got {line!r}")
    return out


# --------------------------------------------------------------------------- notebook-content.py


def to_fabric_py(notebook: Notebook) -> str:
    """``notebook-content.py`` text in Fabric's Git source format."""
    lines = [FABRIC_HEADER, "", METADATA_MARKER, "", *_meta_lines(notebook.fabric_metadata()), ""]
    for cell in notebook.cells:
        if cell.source != cell.source.strip("\n"):
            raise NotebookFormatError("cell sources must not start or end with blank lines")
        if cell.kind == "markdown":
            body = _prefixed(cell.source, "#")
        elif cell.is_magic:
            body = _prefixed(cell.source, _MAGIC_PREFIX)
        else:
            body = cell.source.split("\n")
        for line in body:
            if _ANY_MARKER.match(line) or line == FABRIC_HEADER:
                raise NotebookFormatError(f"a cell line reads like a Fabric marker: {line!r}")
        lines += [MARKERS[cell.kind], "", *body, ""]
        if cell.kind != "markdown":
            lines += [METADATA_MARKER, "", *_meta_lines(_cell_metadata(notebook.kernel)), ""]
    return "\n".join(lines)


def _sections(text: str) -> list[tuple[str, list[str]]]:
    lines = text.split("\n")
    if not lines or lines[0] != FABRIC_HEADER:
        raise NotebookFormatError(f"not a Fabric notebook: the first line must be {FABRIC_HEADER!r}")
    sections: list[tuple[str, list[str]]] = []
    for line in lines[1:]:
        if _ANY_MARKER.match(line):
            sections.append((line, []))
        elif sections:
            sections[-1][1].append(line)
        elif line.strip():
            raise NotebookFormatError(f"text before the first marker: {line!r}")
    for _marker, body in sections:
        # Each marker is followed by one blank line, and each section ends with one.
        if body and body[0] == "":
            del body[0]
        while body and body[-1] == "":
            body.pop()
    return sections


def _parse_meta(body: list[str]) -> dict[str, Any]:
    text = "\n".join(_unprefixed(body, _META_PREFIX))
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookFormatError(f"bad META block: {exc}") from None
    if not isinstance(value, dict):
        raise NotebookFormatError("a META block must hold a JSON object")
    return value


def _dependencies_from(
    meta: dict[str, Any],
) -> tuple[LakehouseDependency | None, EnvironmentDependency | None]:
    deps = meta.get("dependencies") or {}
    lakehouse = None
    if "lakehouse" in deps:
        lh = deps["lakehouse"]
        lakehouse = LakehouseDependency(
            default_lakehouse=lh.get("default_lakehouse", ""),
            default_lakehouse_name=lh.get("default_lakehouse_name", ""),
            default_lakehouse_workspace_id=lh.get("default_lakehouse_workspace_id", ZERO_GUID),
            known_lakehouses=tuple(item["id"] for item in lh.get("known_lakehouses", [])),
        )
    environment = None
    if "environment" in deps:
        env = deps["environment"]
        environment = EnvironmentDependency(env.get("environmentId", ""), env.get("workspaceId", ZERO_GUID))
    return lakehouse, environment


def from_fabric_py(text: str) -> Notebook:
    """Parse ``notebook-content.py`` text back into a :class:`Notebook`."""
    sections = _sections(text)
    if not sections or sections[0][0] != METADATA_MARKER:
        raise NotebookFormatError("the notebook METADATA block must come first")
    meta = _parse_meta(sections[0][1])
    kernel = (meta.get("kernel_info") or {}).get("name", KERNEL)
    cells: list[Cell] = []
    for marker, body in sections[1:]:
        if marker == METADATA_MARKER:
            if not cells or cells[-1].kind == "markdown":
                raise NotebookFormatError("a cell METADATA block must follow a code or parameters cell")
            _parse_meta(body)
            continue
        kind = _MARKER_KIND[marker]
        if kind == "markdown":
            source = "\n".join(_unprefixed(body, "#"))
        elif body and all(line == _MAGIC_PREFIX or line.startswith(_MAGIC_PREFIX + " ") for line in body):
            source = "\n".join(_unprefixed(body, _MAGIC_PREFIX))
        else:
            source = "\n".join(body)
        cells.append(Cell(kind, source))  # type: ignore[arg-type]
    lakehouse, environment = _dependencies_from(meta)
    return Notebook(tuple(cells), lakehouse=lakehouse, environment=environment, kernel=kernel)


# --------------------------------------------------------------------------- .ipynb


def to_nbformat(notebook: Notebook) -> nbformat.NotebookNode:
    """The notebook as an nbformat 4 node: no outputs, stable cell ids, parameters cell tagged."""
    cells = []
    for index, cell in enumerate(notebook.cells, start=1):
        cell_id = f"cell-{index:02d}-{cell.kind}"
        if cell.kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(cell.source, id=cell_id))
            continue
        metadata: dict[str, Any] = {"microsoft": _cell_metadata(notebook.kernel)}
        if cell.kind == "parameters":
            metadata["tags"] = ["parameters"]
        cells.append(nbformat.v4.new_code_cell(cell.source, id=cell_id, metadata=metadata))
    kernelspec = {"name": notebook.kernel, "display_name": KERNEL_DISPLAY_NAME, "language": "python"}
    metadata = {
        "kernel_info": notebook.kernel_info(),
        "kernelspec": dict(PYTHON_KERNELSPEC) if notebook.is_python else kernelspec,
        "language_info": {"name": "python"},
        "dependencies": notebook.dependencies(),
    }
    node = nbformat.v4.new_notebook(cells=cells, metadata=metadata)
    node.nbformat, node.nbformat_minor = 4, 5
    return node


def to_ipynb(notebook: Notebook) -> str:
    """``.ipynb`` text (JSON with sorted keys, validated against the nbformat schema)."""
    node = to_nbformat(notebook)
    nbformat.validate(node)
    return nbformat.writes(node, version=4) + "\n"


def from_ipynb(text: str) -> Notebook:
    """Parse ``.ipynb`` text back into a :class:`Notebook` (outputs are ignored)."""
    node = nbformat.reads(text, as_version=4)
    cells: list[Cell] = []
    for cell in node.cells:
        if cell.cell_type == "markdown":
            cells.append(Cell("markdown", cell.source))
        elif cell.cell_type == "code":
            tags = cell.metadata.get("tags", [])
            cells.append(Cell("parameters" if "parameters" in tags else "code", cell.source))
    meta = dict(node.metadata)
    kernel = (meta.get("kernelspec") or {}).get("name") or (meta.get("kernel_info") or {}).get("name", KERNEL)
    if (meta.get("kernel_info") or {}).get("name") == PYTHON_KERNEL:
        kernel = PYTHON_KERNEL  # a kernelspec alone does not decide it (python3 locally)
    lakehouse, environment = _dependencies_from(meta)
    return Notebook(tuple(cells), lakehouse=lakehouse, environment=environment, kernel=kernel)
