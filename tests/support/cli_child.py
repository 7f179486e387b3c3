"""``fabgen`` commands run in a child process, reporting whether a JVM was started there.

:func:`run_commands` runs each command line through the CLI (click's test runner) in one fresh
Python process, then reports each one's exit code, stdout and stderr, and whether a SparkContext
or a java child process exists at that point: the check that a python group's commands need no JVM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# The child: each argument is one command line (a JSON list).
CHILD_COMMANDS = """
import json, sys
import psutil
from click.testing import CliRunner
from fabgen.cli import main

def jvm():
    spark = None
    if "pyspark" in sys.modules:
        from pyspark import SparkContext
        spark = SparkContext._active_spark_context is not None
    java = [p.name() for p in psutil.Process().children(recursive=True) if "java" in p.name().lower()]
    return spark, java

out = []
for args in map(json.loads, sys.argv[1:]):
    result = CliRunner().invoke(main, args)
    spark, java = jvm()
    out.append({"args": args, "code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
                "spark": spark, "java": java})
print("REPORT " + json.dumps(out))
"""


def run_commands(project: Path, *commands: list[str]) -> list[dict[str, Any]]:
    """Run ``commands`` (``[command, args...]``, ``-p project`` added) in one child; their reports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABGEN_ONELAKE")}
    lines = [json.dumps([*c[:1], "-p", str(project), *c[1:]]) for c in commands]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD_COMMANDS, *lines],
        env={**env, "FABGEN_PLATFORM": "local"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report_line = next((line for line in proc.stdout.splitlines() if line.startswith("REPORT ")), None)
    assert report_line is not None, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(report_line[len("REPORT ") :])
