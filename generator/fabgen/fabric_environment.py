"""The project's Environment item: the runtime wheel as a custom library, and the Spark runtime version.

With ``runtime.install: environment`` in ``fabgen.yaml`` (the default), fabgen ships the runtime as a
Fabric Environment item named ``<project>_env`` (:func:`environment_item_name`)::

    <project>_env.Environment/
      .platform                                        type Environment, stable logicalId
      Libraries/CustomLibraries/fabgen_runtime-<v>-py3-none-any.whl
      Setting/Sparkcompute.yml                         runtime_version: 2.0 (or 1.3)

This is the layout of Fabric's Environment item definition (parts ``Libraries/CustomLibraries/<name>.whl``
and ``Setting/Sparkcompute.yml``) as Git integration and fabric-cicd use it. ``Sparkcompute.yml`` carries
the keys Fabric writes when it exports an environment (starter-pool sizes); ``runtime.spark_compute`` in
``fabgen.yaml`` overrides any of them. The logicalId is :func:`fabgen.items.environment_logical_id`, the
one rendered notebooks name in their ``environment`` dependency, so fabric-cicd links them on deploy.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from .items import (
    PLATFORM_FILE,
    Item,
    dump_json,
    environment_logical_id,
    platform_properties,
    safe_name,
)
from .wheel import WheelInfo

ITEM_TYPE = "Environment"
LIBRARIES_DIR = "Libraries/CustomLibraries"
SPARKCOMPUTE_FILE = "Setting/Sparkcompute.yml"

# What Fabric writes for a new environment on the starter pool (medium nodes); runtime_version comes last.
SPARK_COMPUTE_DEFAULTS: dict[str, Any] = {
    "enable_native_execution_engine": False,
    "driver_cores": 8,
    "driver_memory": "56g",
    "executor_cores": 8,
    "executor_memory": "56g",
    "dynamic_executor_allocation": {"enabled": True, "min_executors": 1, "max_executors": 9},
}


def environment_item_name(project: str) -> str:
    """The Environment item of ``project``: ``<project>_env`` (unsafe characters replaced by ``_``)."""
    return f"{safe_name(project)}_env"


def sparkcompute_yaml(spark_runtime: str, overrides: dict[str, Any] | None = None) -> str:
    """``Setting/Sparkcompute.yml``: Fabric's compute keys, then ``runtime_version`` (``1.3`` or ``2.0``)."""
    settings = {**SPARK_COMPUTE_DEFAULTS, **(overrides or {})}
    settings.pop("runtime_version", None)
    # Fabric writes the version unquoted (a YAML number): 1.3, 2.0.
    settings["runtime_version"] = float(spark_runtime)
    return yaml.safe_dump(settings, sort_keys=False, default_flow_style=False)


def environment_item(
    project: str,
    wheel: WheelInfo,
    spark_runtime: str,
    spark_compute: dict[str, Any] | None = None,
) -> Item:
    """The ``<project>_env`` Environment item: ``.platform``, the wheel (bytes) and ``Sparkcompute.yml``."""
    name = environment_item_name(project)
    description = f"fabgen: runtime {wheel.version} of project {project} (generated: do not edit)"
    platform = platform_properties(ITEM_TYPE, name, environment_logical_id(project), description)
    files: dict[str, str | bytes] = {
        PLATFORM_FILE: dump_json(platform),
        f"{LIBRARIES_DIR}/{wheel.path.name}": wheel.path.read_bytes(),
        SPARKCOMPUTE_FILE: sparkcompute_yaml(spark_runtime, spark_compute),
    }
    return Item(name, ITEM_TYPE, environment_logical_id(project), files)


def write_environment_item(
    dest: Path,
    project: str,
    wheel: WheelInfo,
    spark_runtime: str,
    spark_compute: dict[str, Any] | None = None,
) -> Path:
    """Write ``<project>_env.Environment/`` under ``dest`` (replacing an older one); return its folder."""
    item = environment_item(project, wheel, spark_runtime, spark_compute)
    folder = dest / item.folder
    if folder.exists():
        shutil.rmtree(folder)
    for relative, content in item.files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder
