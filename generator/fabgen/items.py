"""Fabric item folders: ``.platform`` files, stable logicalIds, item names and the pipeline definition.

Item names (documented in docs/render.md):

- a notebook per execution group N of export group G: ``<G>_eg<N>`` (folder ``<G>_eg<N>.Notebook/``);
- the pipeline of group G: ``<G>_pipeline`` (folder ``<G>_pipeline.DataPipeline/``).

LogicalIds are UUIDv5 values derived from the project name and the item's role, so re-rendering
never changes them and two projects never share one.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .notebook import ZERO_GUID

PLATFORM_SCHEMA_URL = (
    "https://developer.microsoft.com/json-schemas/fabric/gitIntegration/platformProperties/2.0.0/schema.json"
)
PLATFORM_FILE = ".platform"
NOTEBOOK_FILE = "notebook-content.py"
PIPELINE_FILE = "pipeline-content.json"

# The namespace of every fabgen logicalId (a constant: changing it would re-key every deployed item).
FABGEN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "fabgen:logical-id")

# Notebook activity timeout: 12 hours, Fabric's default for a notebook activity.
ACTIVITY_TIMEOUT = "0.12:00:00"

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def logical_id(project: str, *parts: str | int) -> str:
    """A stable GUID for one item of ``project``, derived from its role (``parts``)."""
    return str(uuid.uuid5(FABGEN_NAMESPACE, "/".join([project, *(str(part) for part in parts)])))


def safe_name(name: str) -> str:
    """``name`` with every character a Fabric item name may not carry replaced by ``_``."""
    return _UNSAFE.sub("_", name)


def notebook_name(group: str, execution_group: int) -> str:
    """The notebook of one execution group: ``<group>_eg<N>``."""
    return f"{safe_name(group)}_eg{execution_group}"


def pipeline_name(group: str) -> str:
    """The pipeline of one export group: ``<group>_pipeline``."""
    return f"{safe_name(group)}_pipeline"


def notebook_logical_id(project: str, group: str, execution_group: int) -> str:
    """The logicalId of the notebook of ``group``'s execution group."""
    return logical_id(project, "notebook", group, execution_group)


def pipeline_logical_id(project: str, group: str) -> str:
    """The logicalId of ``group``'s pipeline."""
    return logical_id(project, "pipeline", group)


def environment_logical_id(project: str) -> str:
    """The logicalId of the project's Environment item (holding the runtime wheel)."""
    return logical_id(project, "environment")


def dump_json(value: Any) -> str:
    """JSON as fabgen writes it: two-space indent, UTF-8 kept, trailing newline."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Item:
    """One Fabric item folder: ``<name>.<type>/`` holding ``files`` (relative path -> text, or bytes)."""

    name: str
    type: str
    logical_id: str
    files: dict[str, str | bytes]

    @property
    def folder(self) -> str:
        """The folder name, ``<name>.<type>``."""
        return f"{self.name}.{self.type}"


def platform_properties(
    item_type: str, display_name: str, logical_id_: str, description: str = ""
) -> dict[str, Any]:
    """The ``.platform`` object of one item."""
    metadata: dict[str, str] = {"type": item_type, "displayName": display_name}
    if description:
        metadata["description"] = description
    return {
        "$schema": PLATFORM_SCHEMA_URL,
        "metadata": metadata,
        "config": {"version": "2.0", "logicalId": logical_id_},
    }


def notebook_item(name: str, logical_id_: str, content: str, description: str = "") -> Item:
    """A ``Notebook`` item from its ``notebook-content.py`` text."""
    platform = dump_json(platform_properties("Notebook", name, logical_id_, description))
    return Item(name, "Notebook", logical_id_, {PLATFORM_FILE: platform, NOTEBOOK_FILE: content})


@dataclass(frozen=True)
class PipelineParameter:
    """A pipeline parameter forwarded to every notebook's parameter of the same name."""

    name: str
    type: str  # string | int | bool | float (pipeline and notebook activity types)
    default: Any
    expression: str  # what the notebook activity passes


def pipeline_parameters(
    timezone: str, max_concurrency: int, vcores: int | None = None
) -> list[PipelineParameter]:
    """The pipeline's parameters, in the notebooks' parameter order.

    ``execution_id`` left empty becomes the pipeline's run id, so every notebook of one pipeline
    run logs under the same execution (and ``is_retry`` re-runs what that execution left failed).
    ``vcores`` (python groups with ``groups.<G>.vcores``) adds ``vcores``, which the Python
    notebook's ``%%configure`` cell reads by name (parameterized session configuration).
    """
    param = "@pipeline().parameters."
    extra = [PipelineParameter("vcores", "int", vcores, f"{param}vcores")] if vcores else []
    return [
        PipelineParameter("run_date", "string", "", f"{param}run_date"),
        PipelineParameter(
            "execution_id",
            "string",
            "",
            "@if(empty(pipeline().parameters.execution_id), pipeline().RunId, "
            "pipeline().parameters.execution_id)",
        ),
        PipelineParameter("is_retry", "bool", False, f"{param}is_retry"),
        PipelineParameter("timezone", "string", timezone, f"{param}timezone"),
        PipelineParameter("max_concurrency", "int", max_concurrency, f"{param}max_concurrency"),
        *extra,
    ]


def activity_name(notebook: str) -> str:
    """The pipeline activity that runs ``notebook``."""
    return f"Run {notebook}"


def notebook_activity(
    notebook: str,
    notebook_id: str,
    parameters: Sequence[PipelineParameter],
    depends_on: str | None,
    inline_install: bool = False,
) -> dict[str, Any]:
    """A ``TridentNotebook`` activity running one notebook, after ``depends_on`` succeeded."""
    params: dict[str, Any] = {
        p.name: {"value": {"value": p.expression, "type": "Expression"}, "type": p.type} for p in parameters
    }
    if inline_install:
        # Fabric disables %pip in pipeline runs unless the activity allows it.
        params["_inlineInstallationEnabled"] = {"value": True, "type": "bool"}
    after = []
    if depends_on:
        after.append({"activity": activity_name(depends_on), "dependencyConditions": ["Succeeded"]})
    return {
        "name": activity_name(notebook),
        "type": "TridentNotebook",
        "dependsOn": after,
        "policy": {"timeout": ACTIVITY_TIMEOUT, "retry": 0, "retryIntervalInSeconds": 30},
        "typeProperties": {"notebookId": notebook_id, "workspaceId": ZERO_GUID, "parameters": params},
    }


def pipeline_item(
    project: str,
    group: str,
    notebooks: Sequence[tuple[str, str]],
    parameters: Sequence[PipelineParameter],
    inline_install: bool = False,
    description: str = "",
) -> Item:
    """The ``DataPipeline`` of ``group``: one notebook activity per ``(name, logicalId)``, in order."""
    activities = []
    previous: str | None = None
    for name, notebook_id in notebooks:
        activities.append(notebook_activity(name, notebook_id, parameters, previous, inline_install))
        previous = name
    content = {
        "properties": {
            "activities": activities,
            "parameters": {p.name: {"type": p.type, "defaultValue": p.default} for p in parameters},
        }
    }
    name = pipeline_name(group)
    logical = pipeline_logical_id(project, group)
    platform = dump_json(platform_properties("DataPipeline", name, logical, description))
    return Item(name, "DataPipeline", logical, {PLATFORM_FILE: platform, PIPELINE_FILE: dump_json(content)})
