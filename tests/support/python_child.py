"""One run of a kill project's exports on the Python engine, in a process that cannot import pyspark.

``python python_child.py <project root> <onelake root> <run date> [<execution id> [retry]]`` runs
every export of ``<project root>/exports/*.yaml`` through :class:`fabgen_runtime.ExportOrchestrator`
with a :class:`~fabgen_runtime.engines.python.state.PythonExportLogger` and prints the result dict
as its last line (JSON). ``FABGEN_KILL_AT`` makes it SIGKILL itself at a failpoint. Importing
pyspark, py4j or delta-spark raises, so a run that would need a JVM fails instead.
``FABGEN_CHILD_PLATFORM=fabric`` takes the Fabric branch instead (the stand-in's ``notebookutils``
on ``PYTHONPATH``, OneLake tables in Azurite: ``python_kill_support.FabricPythonKillProject``);
``<onelake root>`` is then unused. ``FABGEN_CHILD_RECOVER=1`` runs ``ExportOrchestrator.recover``
(what ``fabgen recover`` does) instead of a run and prints its lines.
``FABGEN_TEST_PUBLISH_CLOCK=<ISO time>`` stamps every publish with that time (the manifests'
``published_at``), so a test can make two publishes tie.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

BLOCKED = ("pyspark", "py4j", "delta")


class _NoSpark(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} imported by a Python-engine run")
        return None


def main(argv: list[str]) -> int:
    sys.meta_path.insert(0, _NoSpark())
    from fabgen_runtime import ExportOrchestrator
    from fabgen_runtime import platform as platform_mod
    from fabgen_runtime.engines.python.state import PythonExportLogger

    frozen = os.environ.get("FABGEN_TEST_PUBLISH_CLOCK")
    if frozen:
        from fabgen_runtime.protocol import publish as publish_protocol

        publish_protocol._now = lambda: frozen  # type: ignore[assignment]  # two publishes tie on purpose
    root, onelake, run_date = Path(argv[0]), argv[1], argv[2]
    execution_id = argv[3] if len(argv) > 3 else None
    retry = len(argv) > 4 and argv[4] == "retry"
    settings = yaml.safe_load((root / "fabgen.yaml").read_text())
    rows = [
        row
        for f in sorted((root / "exports").glob("*.yaml"))
        for row in yaml.safe_load(f.read_text())["exports"]
    ]
    if os.environ.get("FABGEN_CHILD_PLATFORM") == "fabric":
        here = platform_mod.current()
        assert here.name == "fabric", "the Fabric stand-in is not on PYTHONPATH"
    else:
        here = platform_mod.LocalPlatform(onelake)
        platform_mod.use(here)
    logger = PythonExportLogger(settings["config_lakehouse"], platform=here)
    orchestrator = ExportOrchestrator(None, logger, settings["defaults"]["max_concurrency"], platform=here)
    if os.environ.get("FABGEN_CHILD_RECOVER") == "1":  # ``fabgen recover`` of every export
        recovered = orchestrator.recover(rows)
        print(json.dumps({"recover": recovered.lines, "problems": recovered.problems}))
        return 0
    result = orchestrator.process_exports(
        rows, execution_id, run_date=run_date, timezone=settings["defaults"]["timezone"], is_retry=retry
    )
    result["jvm_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    result["commits"] = logger.commits
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
