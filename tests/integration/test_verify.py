"""``fabgen verify`` (issue #28): every published file in place and intact, found through the owner
records; a missing, changed or unknown file is listed and exits 1. Python engine projects (no JVM)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from kill_support import FABGEN, full_export, inc_export
from python_kill_support import PythonKillProject, cli_project, fabgen_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FABGEN.exists(), reason="needs the fabgen CLI (not in the Python-notebook venv)"),
]


def project(tmp_path: Path, local_platform) -> PythonKillProject:
    workspace = f"verify_{uuid.uuid4().hex[:8]}"
    p = cli_project(tmp_path, workspace, local_platform, [inc_export(workspace), full_export(workspace)])
    p.add_rows(1, 10)
    assert fabgen_cli(p, "run", "--run-date", "2025-06-01").returncode == 0
    p.add_rows(11, 20)  # the full export re-publishes its names: the first run's manifest is superseded
    assert fabgen_cli(p, "run", "--run-date", "2025-06-01").returncode == 0
    return p


def test_verify_passes_when_every_published_file_is_in_place(tmp_path, local_platform) -> None:
    p = project(tmp_path, local_platform)
    done = fabgen_cli(p, "verify", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    by_export = {e["export"]: e for e in document["exports"]}
    assert document["ok"] and document["unknown"] == []
    assert by_export["kill/inc"]["files_ok"] == 4  # two runs: a file and a trigger each
    assert (
        by_export["kill/full"]["manifests"] == 2 and by_export["kill/full"]["files_ok"] == 4
    )  # 3 parts + trigger


def test_verify_lists_missing_changed_and_unknown_files(tmp_path, local_platform) -> None:
    p = project(tmp_path, local_platform)
    inc_files = sorted(p.data_files("inc"))
    (p.target("inc") / inc_files[0]).unlink()
    changed = p.target("full") / sorted(p.data_files("full"))[0]
    data = bytearray(changed.read_bytes())
    data[-2] = ord("9") if data[-2] != ord("9") else ord("8")  # same size, other bytes
    changed.write_bytes(bytes(data))
    (p.target("full") / "someone_elses.csv").write_text("x\n")
    before = sorted(str(f) for f in p.files_dir().rglob("*"))

    done = fabgen_cli(p, "verify")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"MISSING kill/inc/{inc_files[0]}" in done.stdout, done.stdout
    assert f"CHANGED kill/full/{changed.name}: SHA-256 differs" in done.stdout, done.stdout
    assert "UNKNOWN kill/full/someone_elses.csv" in done.stdout, done.stdout
    assert "3 problem(s)" in done.stdout
    assert sorted(str(f) for f in p.files_dir().rglob("*")) == before  # it reads, never writes
