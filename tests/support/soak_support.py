"""The random-kill soak of the run protocol (issue #24): a project of four exports on the Python engine,
the files read back with standard readers, and the invariants checked after every step.

The project (one group, ``kill``): ``gz`` an incremental csv.gz named per run date, ``split`` an
incremental csv split in parts of 7 rows named per run, ``pq`` a full parquet with a fixed name and a
trigger, ``js`` an incremental json named per run. A step appends source rows, starts a run, SIGKILLs it
at a random moment, then does one of recover / retry / next run; :class:`Ledger` remembers what was
published so far and checks that nothing published disappears, no id is published twice, the
watermark never moves backwards and covers what is published, and no trigger stands without its data.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from kill_checks import GROUP
from kill_support import full_export, inc_export

INCREMENTAL = ("gz", "split", "js")
FULL = "pq"
SEED = 24  # FABGEN_SOAK_SEED overrides it; a failure message names the seed and step
KILLS = 30  # FABGEN_SOAK_KILLS overrides it


def soak_exports(workspace: str) -> list[dict[str, Any]]:
    """The four export rows of the soak project."""
    return [
        inc_export(
            workspace,
            "gz",
            compression="gzip",
            target_filename_pattern="gz_{run_date:%Y%m%d}.csv",
            trigger_file_pattern="gz_{run_date:%Y%m%d}.done",
        ),
        inc_export(workspace, "split", max_rows_per_file=7),
        full_export(
            workspace,
            FULL,
            max_rows=None,
            file_format="parquet",
            compression="snappy",
            file_format_options={},
            target_filename_pattern="pq_all.parquet",
            trigger_file_pattern="pq_all.done",
        ),
        inc_export(
            workspace,
            "js",
            file_format="json",
            file_format_options={},
            target_filename_pattern="js_{run_id}.json",
            trigger_file_pattern="js_{run_id}.done",
        ),
    ]


def read_ids(path: Path) -> list[int]:
    """The ``id`` column of one published file, by its kind (gzip csv, csv, parquet, json lines)."""
    name = path.name
    if name.endswith(".parquet"):
        return [int(i) for i in pq.read_table(path, columns=["id"]).column("id").to_pylist()]
    if name.endswith(".json"):
        return [int(json.loads(line)["id"]) for line in path.read_text().splitlines() if line.strip()]
    data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    return [int(row["id"]) for row in csv.DictReader(io.StringIO(data.decode()))]


def published(target: Path) -> tuple[dict[str, list[int]], set[str]]:
    """(data file name -> ids, trigger names) in one export's target folder."""
    if not target.is_dir():
        return {}, set()
    files = {
        p.name: read_ids(p) for p in sorted(target.iterdir()) if p.is_file() and not p.name.endswith(".done")
    }
    triggers = {p.name for p in target.iterdir() if p.name.endswith(".done")}
    return files, triggers


def trigger_stem(export: str, name: str) -> str:
    """The trigger name a data file of ``export`` belongs to."""
    if export == "split":
        return name.split("_part")[0] + ".done"
    return name.split(".")[0] + ".done"


@dataclass
class Ledger:
    """What the soak has seen published so far, per export (ids of every published file)."""

    seen: dict[str, set[int]] = field(default_factory=lambda: {e: set() for e in INCREMENTAL})
    watermarks: dict[str, int] = field(default_factory=dict)
    snapshots: list[list[int]] = field(default_factory=lambda: [[]])  # the source after each append
    steps: int = 0

    def check(self, project: Any, when: str, settled: bool) -> None:
        """The invariants after one step (``settled``: no run was killed since the last run finished)."""
        self.steps += 1
        for export in INCREMENTAL:
            self._check_incremental(project, export, when, settled)
        self._check_full(project, when)

    def _check_incremental(self, project: Any, export: str, when: str, settled: bool) -> None:
        files, triggers = published(project.target(export))
        ids = [i for part in files.values() for i in part]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        assert not twice, f"{when}: {export}: ids published twice: {twice[:20]}; files {sorted(files)}"
        lost = sorted(self.seen[export] - set(ids))
        assert not lost, f"{when}: {export}: published ids disappeared: {lost[:20]}"
        orphans = sorted(t for t in triggers if not any(trigger_stem(export, n) == t for n in files))
        assert not orphans, f"{when}: {export}: triggers without their data: {orphans}"
        self.seen[export] = set(ids)
        stored = project.stored_watermark(export)
        value = int(stored) if stored not in (None, "") else 0
        assert value >= self.watermarks.get(export, 0), (
            f"{when}: {export}: the watermark moved backwards: {self.watermarks.get(export)} -> {value}"
        )
        self.watermarks[export] = value
        if settled and ids:
            assert value >= max(ids), (
                f"{when}: {export}: watermark {value} does not cover published id {max(ids)}"
            )
            untriggered = sorted(n for n in files if trigger_stem(export, n) not in triggers)
            assert not untriggered, f"{when}: {export}: data files without their trigger: {untriggered}"

    def _check_full(self, project: Any, when: str) -> None:
        files, triggers = published(project.target(FULL))
        if "pq_all.done" in triggers:
            assert "pq_all.parquet" in files, f"{when}: {FULL}: trigger without its file"
            got = sorted(files["pq_all.parquet"])
            assert got in self.snapshots, (
                f"{when}: {FULL}: the triggered file holds no source snapshot ({len(got)} ids)"
            )

    def check_complete(self, project: Any, source: list[int], when: str) -> None:
        """After a final plain run: every source id published exactly once by every incremental export."""
        for export in INCREMENTAL:
            files, _ = published(project.target(export))
            ids = sorted(i for part in files.values() for i in part)
            assert ids == source, f"{when}: {export}: published {len(ids)} ids, source has {len(source)}"
        files, triggers = published(project.target(FULL))
        assert "pq_all.done" in triggers and sorted(files["pq_all.parquet"]) == source, f"{when}: {FULL}"
        assert not project.staging_files(), f"{when}: staging not empty: {project.staging_files()[:5]}"
        open_rows = [
            r["export_name"] for r in project.log_rows() if r["export_state"] in ("pending", "running")
        ]
        assert not open_rows, f"{when}: log rows not final: {open_rows}"
        assert {r["export_group_name"] for r in project.log_rows()} == {GROUP}
