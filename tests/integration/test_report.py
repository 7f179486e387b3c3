"""``fabgen report`` (issue #28) from real runs of a Python-engine project (no JVM, the report's read
included), opened in a real headless browser: Chromium renders it offline (no console message: the
page loads nothing and runs no script), its DOM holds the SVG charts, and its screenshot is not blank.

Chromium comes from Debian's packages (scripts/setup.sh installs it). Without it the test skips,
except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_child import CHILD_COMMANDS
from kill_checks import GROUP
from kill_support import FABGEN, full_export, inc_export
from python_kill_support import PythonKillProject, cli_project, fabgen_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FABGEN.exists(), reason="needs the fabgen CLI (not in the Python-notebook venv)"),
]

RUN_DATE = "2025-06-01"
#: a screenshot of a white page with one line of text is about 12 KB at 1200x1600
MIN_SCREENSHOT_BYTES = 40_000


def chromium() -> str:
    """The Chromium binary: scripts/setup.sh installs it, so the test fails (never skips) without one."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is missing: bash scripts/setup.sh installs it (apt-get install chromium)")


def browse(binary: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium headless on ``page`` with its log on stderr (console messages included)."""
    line = [
        binary,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(line, capture_output=True, text=True, check=False, timeout=180)


def console_messages(stderr: str) -> list[str]:
    """The page's console lines (``INFO:CONSOLE``, ``ERROR:CONSOLE``...) and uncaught errors; a page
    without script logs none, and a blocked load (Content-Security-Policy) logs one."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (after checking the signature)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", head
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def report_without_jvm(p: PythonKillProject, *args: str) -> dict[str, Any]:
    """``fabgen report -p <project> -g kill [args]`` in a child process (in the project's folder) that
    then reports whether it created a SparkContext or has a java child (:mod:`cli_child`)."""
    line = json.dumps(["report", "-p", str(p.root), "-g", GROUP, *args])
    proc = subprocess.run(
        [sys.executable, "-c", CHILD_COMMANDS, line],
        env=p.child_env(),
        cwd=p.root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found = [x for x in proc.stdout.splitlines() if x.startswith("REPORT ")]
    assert found, proc.stdout[-3000:] + proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(found[0][len("REPORT ") :])[0]
    assert not result["spark"] and result["java"] == [], f"report started a JVM: {result}"
    return result


def runs(tmp_path: Path, local_platform) -> PythonKillProject:
    """Two executions that succeed, then one where an export of execution group 2 fails (its
    source table does not exist)."""
    workspace = f"report_{uuid.uuid4().hex[:8]}"
    exports = [inc_export(workspace), full_export(workspace, execution_group=2)]
    p = cli_project(tmp_path, workspace, local_platform, exports)
    for first, last, execution in ((1, 10, "report-1"), (11, 30, "report-2")):
        p.add_rows(first, last)
        done = fabgen_cli(p, "run", "--run-date", RUN_DATE, "--execution-id", execution)
        assert done.returncode == 0, done.stdout + done.stderr
    missing = full_export(workspace, "missing", execution_group=2, source_table="no_such_table")
    path = p.root / "exports" / "kill.yaml"
    path.write_text(yaml.safe_dump({"exports": [*exports, missing]}))
    done = fabgen_cli(p, "run", "--run-date", RUN_DATE, "--execution-id", "report-3")
    assert done.returncode == 1, done.stdout + done.stderr
    return p


def test_report_of_real_runs_renders_offline_in_chromium(tmp_path, local_platform) -> None:
    binary = chromium()
    p = runs(tmp_path, local_platform)

    done = report_without_jvm(p, "--days", "3")
    assert done["code"] == 0, done
    report = p.root / "fabgen-report-kill.html"  # the default: in the current folder (the project)
    assert done["stdout"].strip() == str(report), done
    html = report.read_text()
    assert html.count('<svg class="timeline"') == 3  # one per execution
    assert html.count('<svg class="chart"') == 9  # inc, full, missing: rows, bytes, seconds
    assert "execution group 1" in html and "execution group 2" in html
    retry = f"fabgen run -p {p.root.resolve()} -g kill --retry --execution-id report-3"
    assert retry in html
    assert "--execution-id report-1" not in html and "--execution-id report-2" not in html
    assert "no_such_table" in html
    assert "http://" not in html and "https://" not in html

    profile = tmp_path / "chromium-profile"
    screenshot = tmp_path / "report.png"
    shot = browse(binary, report, profile, f"--screenshot={screenshot}", "--window-size=1200,1600")
    assert shot.returncode == 0, shot.stderr[-3000:]
    assert console_messages(shot.stderr) == [], shot.stderr[-3000:]
    assert png_size(screenshot) == (1200, 1600)
    assert screenshot.stat().st_size > MIN_SCREENSHOT_BYTES, screenshot.stat().st_size

    dom = browse(binary, report, profile, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-3000:]
    assert console_messages(dom.stderr) == [], dom.stderr[-3000:]
    assert len(re.findall(r'<svg class="timeline"', dom.stdout)) == 3
    assert len(re.findall(r'<svg class="chart"', dom.stdout)) == 9
    assert len(re.findall(r'<rect class="bar"', dom.stdout)) >= 7  # 2 + 2 + 3 runs that started
    assert "<script" not in dom.stdout


def test_report_writes_where_out_says_and_says_when_nothing_ran(tmp_path, local_platform) -> None:
    workspace = f"report_{uuid.uuid4().hex[:8]}"
    p = cli_project(tmp_path, workspace, local_platform, [inc_export(workspace)])
    out = tmp_path / "elsewhere" / "r.html"
    out.parent.mkdir()
    done = fabgen_cli(p, "report", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == str(out)
    assert "does not exist" in out.read_text()
    bad = fabgen_cli(p, "report", "--out", str(tmp_path / "no" / "such" / "r.html"))
    assert bad.returncode == 1 and "cannot write the report" in bad.stderr, bad.stderr
