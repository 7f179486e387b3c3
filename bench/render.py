"""Benchmark ``fabgen render``: the example project, and a synthetic project of many exports.

    .venv/bin/python bench/render.py [--exports 500] [--groups 10] [--execution-groups 5] [--repeat 5]

Times, in one process, the in-memory render (load + validate + render, no disk) of ``examples/sales``
and of a generated project with ``--exports`` rows spread over ``--groups`` export groups and
``--execution-groups`` execution groups each, then one full CLI run writing to a scratch folder.
Prints median seconds and writes bench/results/render.json. No JVM involved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from fabgen.project import load_project
from fabgen.render import render_project

REPO = Path(__file__).resolve().parents[1]


def synthetic(root: Path, exports: int, groups: int, execution_groups: int) -> Path:
    """A project of ``exports`` lakehouse-to-csv.gz rows."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "exports").mkdir(exist_ok=True)
    settings = {"name": "bench", "config_lakehouse": {"workspace": "WS", "lakehouse": "lh_config"}}
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    rows = [
        {
            "export_group_name": f"group{i % groups:02d}",
            "export_name": f"export{i:05d}",
            "is_active": True,
            "execution_group": 1 + (i // groups) % execution_groups,
            "source_type": "lakehouse",
            "source_workspace": "WS",
            "source_datastore": "lh_gold",
            "source_table": f"table{i % 50}",
            "target_workspace": "WS",
            "target_lakehouse": "lh_exports",
            "target_path": f"out/{i}/",
            "target_filename_pattern": f"export{i}_{{run_date:%Y%m%d}}.csv",
            "file_format": "csv",
            "compression": "gzip",
            "file_format_options": {"header": "true"},
        }
        for i in range(exports)
    ]
    (root / "exports" / "exports.yaml").write_text(yaml.safe_dump(rows))
    return root


def median_seconds(project: Path, repeat: int) -> tuple[float, int]:
    times, files = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        rendered = render_project(load_project(project))
        times.append(time.perf_counter() - started)
        files = len(rendered.files)
    return statistics.median(times), files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exports", type=int, default=500)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--execution-groups", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        big = synthetic(Path(scratch) / "big", args.exports, args.groups, args.execution_groups)
        projects = {"examples/sales": REPO / "examples" / "sales", f"{args.exports} exports": big}
        for name, project in projects.items():
            seconds, files = median_seconds(project, args.repeat)
            results[name] = {"median_seconds": round(seconds, 4), "files": files}
            print(f"{name:>16}: {seconds:.3f} s in memory ({files} files)")
        started = time.perf_counter()
        subprocess.run(
            [
                str(Path(sys.executable).parent / "fabgen"),
                "render",
                "-p",
                str(REPO / "examples" / "sales"),
                "--out",
                str(Path(scratch) / "out"),
            ],
            check=True,
            capture_output=True,
        )
        cli = time.perf_counter() - started
        results["cli examples/sales"] = {"seconds": round(cli, 3)}
        print(f"{'cli (process)':>16}: {cli:.3f} s, interpreter start and imports included")
    out = REPO / "bench" / "results" / "render.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
