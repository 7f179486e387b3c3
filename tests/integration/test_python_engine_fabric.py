"""The Python engine's Fabric branch: OneLake through ``notebookutils.fs`` and delta-rs over abfss.

Each run is a child process without a JVM (``python_child.py``) that takes the Fabric branch: the
stand-in's ``notebookutils`` is importable, so the runtime picks ``FabricPlatform`` (abfss URIs),
``NotebookFileStore`` (files: the stand-in's local OneLake folder) and ``FabricStorageOptions`` (a
bearer token from ``notebookutils.credentials.getToken("storage")``, ``use_fabric_endpoint``).
delta-rs reads the source and keeps the log and watermark tables at those abfss URIs in Azurite
(``tests/support/azurite.py``), over HTTPS with the token checked. This shows the branch runs
end to end and survives SIGKILLs at every point of the protocol; it does not show how OneLake or
``notebookutils`` on Fabric behave (docs/python-engine.md).
"""

from __future__ import annotations

import gzip
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import azurite
import pyarrow.parquet as pq
import pytest
from kill_checks import CONFIG_LAKEHOUSE, DAY, check_clean, summary
from kill_support import KILL_POINTS, full_export, inc_export, new_project, selected_points
from python_kill_support import (
    FabricPythonKillProject,
    Killed,
    check_first_gz_run_logged,
    check_killed_run_recovers,
    check_next_day_exports_only_new_rows,
    gz_export,
    kill_at_each_point,
    parquet_export,
)

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory) -> Iterator[azurite.Azurite]:
    """Azurite, with this process's delta-rs pointed at it too (to seed sources and read tables)."""
    with azurite.pointed_at(tmp_path_factory.mktemp("azurite")) as running:
        yield running


def project(tmp_path: Path, local_platform, emulator, exports) -> FabricPythonKillProject:
    workspace = f"pyfab-{uuid.uuid4().hex[:8]}"  # a container name: lowercase, digits, '-'
    emulator.create_container(workspace)
    built = new_project(
        tmp_path / workspace,
        workspace,
        None,
        local_platform,
        [e(workspace) for e in exports],
        2,
        kind=FabricPythonKillProject,
    )
    assert isinstance(built, FabricPythonKillProject)
    built.azurite = emulator
    return built


def test_a_python_group_runs_its_fabric_branch_over_onelake_uris(tmp_path, local_platform, emulator) -> None:
    p = project(tmp_path, local_platform, emulator, [gz_export, parquet_export])
    p.add_rows(1, 10)
    first = p.run_in_process()
    assert first["success"], summary(first)
    host = "onelake.dfs.fabric.microsoft.com"
    for entry in first["results"]:
        # FabricPlatform's URIs, published through notebookutils.fs into the stand-in's folder
        assert all(
            f.startswith(f"abfss://{p.workspace}@{host}/lh_out.Lakehouse/Files/") for f in entry["file_paths"]
        )
    gz_file = p.target("gz") / f"gz_{DAY}.csv.gz"
    lines = gzip.decompress(gz_file.read_bytes()).decode().splitlines()
    assert lines[0] == "id,name" and [int(x.split(",")[0]) for x in lines[1:]] == list(range(1, 11))
    assert pq.read_table(p.target("pq") / f"pq_{DAY}.parquet").column("id").to_pylist() == list(range(1, 11))
    # The state tables are in Azurite (abfss through delta-rs), not in the local folder.
    assert not (p.local.onelake_root / p.workspace / f"{CONFIG_LAKEHOUSE}.Lakehouse" / "Tables").exists()
    check_first_gz_run_logged(p)
    assert p.stored_watermark("gz") == "10"
    check_clean(p, "after the first run")

    check_next_day_exports_only_new_rows(p)


def test_a_rejected_token_fails_the_run_and_moves_nothing(tmp_path, local_platform, emulator) -> None:
    """A token OneLake (here Azurite) refuses: the run fails with the table named, no file is
    published and the watermark stays where it was."""
    p = project(tmp_path, local_platform, emulator, [inc_export])
    p.add_rows(1, 5)
    assert p.run_in_process()["success"]
    p.add_rows(6, 9)
    expired = azurite.storage_token(lifetime=-3600)
    env = p.child_env(FABRIC_STANDIN_TOKEN=expired)
    proc = subprocess.run(p.child_args("2025-06-02", None, False), env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    # fabgen's StateError, naming the table OneLake refused, and why
    assert "StateError: cannot reach the state table abfss://" in proc.stderr, proc.stderr[-3000:]
    assert "lh_config.Lakehouse/Tables/dbo/log_resource_export" in proc.stderr
    assert "The token is expired" in proc.stderr
    assert p.stored_watermark("inc") == "5"
    check_clean(p, "after the refused run")


def test_a_damaged_state_table_over_onelake_fails_the_run_naming_its_commit_file(
    tmp_path, local_platform, emulator
) -> None:
    """The log table's newest commit in Azurite emptied, then cut in half (uploaded over it): each
    run fails with ``StateTableError`` naming the abfss commit file (the log listed and read with
    the token), publishes nothing and leaves the watermark as it was."""
    import urllib.parse

    import pyarrow.fs as pa_fs
    from deltalake.fs import DeltaStorageHandler

    p = project(tmp_path, local_platform, emulator, [inc_export])
    p.add_rows(1, 5)
    assert p.run_in_process()["success"]
    p.add_rows(6, 9)
    table = p.state_path("log_resource_export")
    log = pa_fs.PyFileSystem(DeltaStorageHandler(table, emulator.storage_options()))
    commits = [
        i.base_name for i in log.get_file_info(pa_fs.FileSelector("_delta_log")) if i.extension == "json"
    ]
    newest = f"_delta_log/{max(commits)}"
    with log.open_input_stream(newest) as stream:
        original = stream.read()
    files = sorted(f.name for f in p.target("inc").iterdir())
    replacement, prefix = tmp_path / "replacement", urllib.parse.urlparse(table).path.strip("/")
    (replacement / "_delta_log").mkdir(parents=True)
    for damaged in (b"", original[: len(original) // 2]):
        (replacement / newest).write_bytes(damaged)
        assert emulator.upload_tree(replacement, p.workspace, prefix) == 1
        proc = subprocess.run(
            p.child_args("2025-06-02", None, False), env=p.child_env(), capture_output=True, text=True
        )
        assert proc.returncode != 0, proc.stdout[-3000:]
        said = f"the state table log_resource_export is damaged: its commit file {table}/{newest} is "
        assert f"StateTableError: {said}" in proc.stderr, proc.stderr[-3000:]
        assert sorted(f.name for f in p.target("inc").iterdir()) == files
        assert p.stored_watermark("inc") == "5"


def test_a_table_with_deletion_vectors_is_read_over_onelake_with_the_token(
    tmp_path, local_platform, emulator
) -> None:
    """A source with deletion vectors (a DV file and the log that names it) in Azurite: the DV file
    and the log are read through delta-rs's filesystem with the bearer token, and only live rows
    are exported."""
    import urllib.parse

    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake
    from dv_support import delete_rows

    p = project(tmp_path, local_platform, emulator, [gz_export, parquet_export])
    local = tmp_path / "items"
    ids = list(range(1, 101))
    write_deltalake(
        str(local), pa.table({"id": pa.array(ids, pa.int64()), "name": [f"item {i}" for i in ids]})
    )
    (data_file,) = [Path(f).name for f in DeltaTable(str(local)).file_uris()]
    delete_rows(local, {data_file: [0, 1, 2, 49, 99]})  # positions of ids 1, 2, 3, 50, 100
    prefix = urllib.parse.urlparse(p.source_path).path.strip("/")
    assert emulator.upload_tree(local, p.workspace, prefix) >= 4
    first = p.run_in_process()
    assert first["success"], summary(first)
    live = [i for i in ids if i not in (1, 2, 3, 50, 100)]
    gz_file = p.target("gz") / f"gz_{DAY}.csv.gz"
    lines = gzip.decompress(gz_file.read_bytes()).decode().splitlines()
    assert [int(x.split(",")[0]) for x in lines[1:]] == live
    assert pq.read_table(p.target("pq") / f"pq_{DAY}.parquet").column("id").to_pylist() == live
    assert p.stored_watermark("gz") == "99"


def test_a_column_mapped_table_is_read_over_onelake_with_the_token(
    tmp_path, local_platform, emulator
) -> None:
    """A column-mapped source (``name`` mode, a column renamed and one dropped and re-added after
    the first files; written from the protocol) in Azurite: read under its physical names through
    delta-rs's filesystem with the bearer token, exported under its logical names."""
    import urllib.parse

    from column_mapping_support import write_mapped_table

    p = project(tmp_path, local_platform, emulator, [gz_export, parquet_export])
    local = tmp_path / "items"
    write_mapped_table(local, "name", id_name="id", nested=False)
    prefix = urllib.parse.urlparse(p.source_path).path.strip("/")
    assert emulator.upload_tree(local, p.workspace, prefix) >= 7
    first = p.run_in_process()
    assert first["success"], summary(first)
    lines = gzip.decompress((p.target("gz") / f"gz_{DAY}.csv.gz").read_bytes()).decode().splitlines()
    assert lines[0] == "id,re gion,re mark,day"
    assert sorted(lines[1:], key=lambda line: int(line.split(",")[0]))[:2] == ["1,east,n1,", "2,east,n2,"]
    assert "33,we st,n33,2025-05-06" in lines
    table = pq.read_table(p.target("pq") / f"pq_{DAY}.parquet")
    assert table.schema.names == ["id", "re gion", "re mark", "day"]
    assert sorted(table.column("id").to_pylist()) == list(range(1, 41))
    assert p.stored_watermark("gz") == "40"


@pytest.fixture(scope="module")
def killed(request, tmp_path_factory, local_platform, emulator) -> dict[str, Killed]:
    return kill_at_each_point(
        lambda point: project(
            tmp_path_factory.mktemp(point), local_platform, emulator, [inc_export, full_export]
        ),
        selected_points(request),
    )


#: where the Fabric branch runs its own code when the kill lands: files uploaded into staging, moved
#: by ``notebookutils.fs``, the watermark committed by delta-rs over abfss. The default tier kills
#: there; the local branch's matrix (test_python_engine_runs.py) covers every point in every tier.
FABRIC_SPECIFIC = ("after_staging", "after_rename_1", "after_watermark")
POINTS = [
    pytest.param(
        point, export, id=f"{point}@{export}", marks=() if point in FABRIC_SPECIFIC else pytest.mark.full
    )
    for point, export in KILL_POINTS
]


@pytest.mark.parametrize(("point", "export"), POINTS)
def test_a_fabric_branch_run_killed_at_a_point_is_finished_by_its_retry_and_the_next_run(
    killed, point: str, export: str
) -> None:
    check_killed_run_recovers(killed[point], point, export)
