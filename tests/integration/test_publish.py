"""Publishing through the journal: trigger last, manifest with SHA-256, a full export replacing its own
files, rollback on failure, discard, paths kept in Files/."""

from __future__ import annotations

import hashlib
import json

import pytest
from fabgen_runtime.engines.spark import publish, writer
from fabgen_runtime.engines.spark.fs import HadoopFS
from fabgen_runtime.errors import ConfigError, PathError, PublishError
from writer_support import (
    csv_text,
    files_dir,
    make_plan,
    read_csv,
    source_df,
    source_rows,
    staging_dir,
    unique_lakehouse,
)

pytestmark = pytest.mark.jvm

ROWS = 1000
SPLIT = 400
PARTS = ["orders_20251212_part0001.csv", "orders_20251212_part0002.csv", "orders_20251212_part0003.csv"]
TRIGGER = "orders_20251212.done"


@pytest.fixture(scope="module")
def source(spark):
    return source_df(spark, ROWS)


def split_plan(lakehouse: str):
    return make_plan(lakehouse, max_rows_per_file=SPLIT, trigger_file_pattern="orders_{run_date:%Y%m%d}.done")


def snapshot(directory) -> dict[str, bytes]:
    if not directory.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_trigger_is_written_last_after_every_data_file(source, local_platform, monkeypatch) -> None:
    calls: list[tuple[str, str]] = []
    rename, write_bytes = HadoopFS.rename, HadoopFS.write_bytes
    plan = split_plan(unique_lakehouse())
    staging = str(staging_dir(local_platform, plan))

    def spy_rename(self, src, dst):
        if not dst.startswith(staging):  # journal rewrites stay in staging
            calls.append(("rename", dst))
        return rename(self, src, dst)

    def spy_write_bytes(self, uri, data, overwrite=False):
        if uri.endswith(TRIGGER):
            calls.append(("trigger", uri))
        elif uri.endswith(".json") and "_fabgen_manifests" in uri and "/_files/" not in uri:
            calls.append(("manifest", uri))
        return write_bytes(self, uri, data, overwrite)

    staged = writer.write(source, plan, local_platform)
    monkeypatch.setattr(HadoopFS, "rename", spy_rename)
    monkeypatch.setattr(HadoopFS, "write_bytes", spy_write_bytes)
    published = publish.publish(staged, plan, local_platform, keep_journal=True)
    monkeypatch.undo()
    assert [kind for kind, _ in calls] == ["rename"] * 3 + ["manifest", "trigger"]
    assert [uri.rsplit("/", 1)[1] for kind, uri in calls if kind != "manifest"] == [*PARTS, TRIGGER]
    assert published.trigger_path.endswith(f"/{TRIGGER}")
    assert [p.rsplit("/", 1)[1] for p in published.file_paths] == PARTS
    # The manifest lists every file with its size, rows and SHA-256 (computed in the JVM).
    files_root = local_platform.onelake_root / "ws" / f"{plan.output.lakehouse}.Lakehouse" / "Files"
    manifest = json.loads((files_root / published.manifest_path).read_text())
    directory = files_dir(local_platform, plan)
    assert [f["name"] for f in manifest["files"]] == PARTS and manifest["rows"] == ROWS
    for entry in manifest["files"]:
        data = (directory / entry["name"]).read_bytes()
        assert entry["size"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert sum(f["rows"] for f in manifest["files"]) == ROWS
    # The journal stays (phase published) until the bookkeeping is done; then staging goes.
    journal = json.loads((staging_dir(local_platform, plan) / "journal.json").read_text())
    assert journal["phase"] == "published"
    publish.discard(plan, local_platform)
    assert not staging_dir(local_platform, plan).exists()
    assert not staging_dir(local_platform, plan).parent.exists()  # the empty _fabgen_staging folder too


def test_rerun_replaces_files_of_the_earlier_run(spark, local_platform) -> None:
    lakehouse = unique_lakehouse()
    first = split_plan(lakehouse)
    publish.publish(writer.write(source_df(spark, ROWS), first, local_platform), first, local_platform)
    publish.discard(first, local_platform)
    second = split_plan(lakehouse)  # same names, a new export run (a full export may replace its own files)
    smaller = source_df(spark, 500)
    publish.publish(writer.write(smaller, second, local_platform), second, local_platform)
    publish.discard(second, local_platform)
    directory = files_dir(local_platform, second)
    # Part 3 of the first run is not part of the second run's output: it stays (different file).
    assert sorted(snapshot(directory)) == sorted([*PARTS, TRIGGER])
    first_two = (
        read_csv((directory / PARTS[0]).read_bytes())[1:] + read_csv((directory / PARTS[1]).read_bytes())[1:]
    )
    assert first_two == [csv_text(r) for r in source_rows(500)]
    assert not staging_dir(local_platform, second).exists()


def test_directory_in_the_way_fails_and_leaves_destination_untouched(source, local_platform) -> None:
    lakehouse = unique_lakehouse()
    earlier = split_plan(lakehouse)
    publish.publish(writer.write(source, earlier, local_platform), earlier, local_platform)
    publish.discard(earlier, local_platform)
    directory = files_dir(local_platform, earlier)
    (directory / PARTS[2]).unlink()
    (directory / PARTS[2]).mkdir()  # a directory where part 3 must go
    (directory / PARTS[2] / "keep.txt").write_text("x")
    before = {name: data for name, data in snapshot(directory).items() if name != PARTS[2]}

    plan = split_plan(lakehouse)
    staged = writer.write(source_df(local_platform.spark(), 900), plan, local_platform)
    with pytest.raises(PublishError, match="directory is in the way") as raised:
        publish.publish(staged, plan, local_platform)
    assert raised.value.export == "sales/orders"
    after = {name: data for name, data in snapshot(directory).items() if name != PARTS[2]}
    assert after == before  # earlier files and earlier trigger unchanged
    assert staging_dir(local_platform, plan).exists()  # refused before the journal: nothing moved
    assert not (staging_dir(local_platform, plan) / "journal.json").exists()
    publish.discard(plan, local_platform)
    assert not staging_dir(local_platform, plan).exists()
    publish.discard(plan, local_platform)  # safe twice


def test_failure_midway_rolls_back_moved_files_and_restores_earlier_ones(
    source, local_platform, monkeypatch
) -> None:
    lakehouse = unique_lakehouse()
    earlier = split_plan(lakehouse)
    publish.publish(writer.write(source, earlier, local_platform), earlier, local_platform)
    publish.discard(earlier, local_platform)
    directory = files_dir(local_platform, earlier)
    before = snapshot(directory)

    plan = split_plan(lakehouse)
    staged = writer.write(source_df(local_platform.spark(), 900), plan, local_platform)
    rename = HadoopFS.rename
    moves = {"count": 0, "failed": False}

    def failing_rename(self, src, dst):
        if dst.endswith(PARTS[1]) and "/out/" in src and not moves["failed"]:  # the 2nd data file, once
            moves["failed"] = True
            raise OSError("injected: storage unavailable")
        moves["count"] += 1
        return rename(self, src, dst)

    monkeypatch.setattr(HadoopFS, "rename", failing_rename)
    with pytest.raises(PublishError, match="injected"):
        publish.publish(staged, plan, local_platform)
    monkeypatch.undo()
    assert moves["count"] > 3  # trigger and part 1 set aside, part 1 moved, then all put back
    assert snapshot(directory) == before
    publish.discard(plan, local_platform)
    assert not staging_dir(local_platform, plan).exists()


def test_exception_between_write_and_publish_leaves_nothing(source, local_platform) -> None:
    plan = split_plan(unique_lakehouse())
    try:
        staged = writer.write(source, plan, local_platform)
        assert staged.files_count == 3
        raise RuntimeError("the run failed before publishing")
    except RuntimeError:
        publish.discard(plan, local_platform)
    assert not files_dir(local_platform, plan).exists()
    assert not staging_dir(local_platform, plan).exists()


def test_path_escaping_files_is_rejected_before_any_write(source, local_platform) -> None:
    lakehouse = unique_lakehouse()
    with pytest.raises(PathError, match="target_path"):  # resolved at run time
        make_plan(
            lakehouse,
            target_path="exports/{watermark}",
            extract_type="incremental",
            incremental_column="updated_at",
            watermark="../../../outside",
        )
    with pytest.raises(ConfigError, match="target_path"):  # literal: caught when the config is read
        make_plan(lakehouse, target_path="../outside")
    with pytest.raises(ConfigError, match="trigger_file_pattern"):
        make_plan(lakehouse, trigger_file_pattern="../{run_date:%Y}.done")
    root = local_platform.onelake_root / "ws" / f"{lakehouse}.Lakehouse"
    assert not root.exists()
