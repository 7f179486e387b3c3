"""The Python engine's zstd and brotli (``engines/python/compressors.py``): what Fabric's python3.12
kernel has (pyarrow, ``brotlicffi``; no ``zstandard``, no ``brotli``), read back by standard tools.

zstd through pyarrow as concatenated frames (``zstd -t``/``zstd -l``/``zstd -d`` read them), brotli
as one stream through ``brotli``, ``brotlicffi`` or pyarrow, at the configured levels.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from fabgen_runtime import platform
from fabgen_runtime.engines.python import compressors
from fabgen_runtime.engines.python import read as python_read
from fabgen_runtime.engines.python import write as python_write
from fabgen_runtime.errors import CompressionError
from fabgen_runtime.publish import staging_uri
from writer_support import check_tool, decompress, make_plan, tar_members, unique_lakehouse

# about 400 kB of csv-like text: compressible, and different levels give different sizes
DATA = b"".join(
    b"%d,%d,%d.%02d,2025-%02d-%02d,note %s\n"
    % (i, i % 977, i * 7, i % 100, i % 12 + 1, i % 28 + 1, b"x" * (i % 13))
    for i in range(10_000)
)
EXPORT = "grp/exp"


def _chunks(data: bytes, size: int = 10_000) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def zstd_frames(path: Path) -> int:
    """The frame count ``zstd -l`` reports (an independent reader of the frame headers)."""
    listing = subprocess.run(["zstd", "-lv", str(path)], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Zstandard Frames: (\d+)", listing)
    assert match, listing
    return int(match.group(1))


def write_zstd(path: Path, data: bytes, level: int, frame_bytes: int = compressors.FRAME_BYTES) -> int:
    stream = compressors.ZstdFrames(open(path, "xb"), level, frame_bytes)  # noqa: SIM115 - closed by the stream
    for chunk in _chunks(data):
        stream.write(chunk)
    stream.close()
    return stream.frames


def test_a_zstd_stream_is_frames_that_standard_tools_read_as_one_file(tmp_path: Path) -> None:
    path = tmp_path / "out.zst"
    frames = write_zstd(path, DATA, 3, frame_bytes=64 * 1024)
    assert frames == -(-len(DATA) // (64 * 1024)) > 1  # ceil: the last frame holds the rest
    assert zstd_frames(path) == frames
    assert decompress(path, "zstd") == DATA  # zstd -t, then zstandard across frames (or zstd -d)


def test_an_empty_zstd_stream_is_one_empty_frame(tmp_path: Path) -> None:
    path = tmp_path / "empty.zst"
    assert write_zstd(path, b"", 3) == 1
    assert decompress(path, "zstd") == b"" and zstd_frames(path) == 1


def test_zstd_levels_are_libzstd_levels(tmp_path: Path) -> None:
    sizes = {}
    for level in (1, 19):
        path = tmp_path / f"l{level}.zst"
        write_zstd(path, DATA, level)
        assert decompress(path, "zstd") == DATA
        sizes[level] = path.stat().st_size
    assert sizes[19] < sizes[1], sizes


def _write_brotli(path: Path, data: bytes, level: int, modules: tuple[str, ...]) -> Any:
    stream = compressors.brotli_stream(open(path, "xb"), level, EXPORT, modules)  # noqa: SIM115
    for chunk in _chunks(data):
        stream.write(chunk)
    stream.close()
    return stream


# The brotli packages of this venv: both in the dev venv (extras), only brotlicffi in the python3.12
# kernel's (scripts/compat-python-notebook.sh); each one present is exercised, none is skipped.
BROTLI_PACKAGES = [m for m in ("brotli", "brotlicffi") if importlib.util.find_spec(m) is not None]


def test_this_venv_has_a_brotli_package_and_the_engine_picks_the_first() -> None:
    assert BROTLI_PACKAGES, (
        "neither brotli nor brotlicffi is installed (dev extra; Fabric's kernel has brotlicffi)"
    )
    module = compressors.brotli_module()
    assert module is not None and module.__name__ == BROTLI_PACKAGES[0]


@pytest.mark.parametrize("module", BROTLI_PACKAGES)
def test_a_brotli_package_writes_one_stream_at_the_level(tmp_path: Path, module: str) -> None:
    sizes = {}
    for level in (0, 5, 11):
        path = tmp_path / f"q{level}.br"
        stream = _write_brotli(path, DATA, level, (module,))
        assert type(stream).__name__ == "_ModuleBrotli" and stream.raw.closed
        assert decompress(path, "brotli") == DATA  # the brotli package (else pyarrow's decoder)
        sizes[level] = path.stat().st_size
    assert sizes[11] < sizes[5] < sizes[0], sizes


def test_without_a_brotli_package_pyarrow_writes_its_default_level_only(tmp_path: Path) -> None:
    level = compressors.pyarrow_brotli_level()
    assert level == 8  # Arrow's default brotli quality; its stream takes no level
    path = tmp_path / "arrow.br"
    stream = _write_brotli(path, DATA, level, ())
    assert type(stream).__name__ == "_ArrowBrotli"
    assert decompress(path, "brotli") == DATA
    with pytest.raises(CompressionError, match=r"grp/exp.*level 5 needs .*'brotli' or 'brotlicffi'"):
        compressors.brotli_stream(open(tmp_path / "no.br", "xb"), 5, EXPORT, ())  # noqa: SIM115


# --------------------------------------------------------------------------- whole exports


def _table(rows: int, first: int) -> pa.Table:
    ids = list(range(first, first + rows))
    return pa.table({"id": pa.array(ids, pa.int64()), "note": pa.array([f"n{i % 97}" * 5 for i in ids])})


@pytest.fixture(scope="module")
def three_files(local_platform) -> str:
    """A Delta table of three data files (so an export writes three batches, three zstd frames)."""
    name = "t_z" + unique_lakehouse()[-8:]
    path = platform.table_uri(local_platform, "ws", "lh_gold", "dbo", name)
    for k in range(3):
        write_deltalake(path, _table(1000, 1 + 1000 * k), mode="append")
    return name


def export(local_platform, name: str, **config: Any):
    plan = make_plan(unique_lakehouse(), source_table=name, file_format="csv", **config)
    stream = python_read.read(plan, local_platform)
    return plan, python_write.write(stream.reader, plan, local_platform)


def _ids(data: bytes) -> list[int]:
    return sorted(int(line.split(b",")[0]) for line in data.splitlines() if line[:1].isdigit())


def test_a_zstd_export_is_one_frame_per_batch(local_platform, three_files: str) -> None:
    _plan, staged = export(local_platform, three_files, compression="zstd", compression_level=19)
    (only,) = staged.files
    path = Path(only.uri)
    check_tool(["zstd", "-q", "-t", str(path)])
    assert zstd_frames(path) == 3
    assert _ids(decompress(path, "zstd")) == list(range(1, 3001))


def test_a_split_zstd_export_is_a_tar_in_frames(local_platform, three_files: str) -> None:
    plan, staged = export(local_platform, three_files, compression="zstd", max_rows_per_file=1200)
    (archive,) = staged.files
    members = tar_members(decompress(Path(archive.uri), "zstd"))
    assert list(members) == [plan.output.part_filename(n) for n in (1, 2, 3)]
    assert _ids(b"".join(members.values())) == list(range(1, 3001))


def test_a_brotli_export_without_a_brotli_package_fails_before_writing_unless_at_level_8(
    local_platform, three_files: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in a Python notebook with neither ``brotli`` nor ``brotlicffi``: pyarrow's stream only."""
    monkeypatch.setattr(compressors, "BROTLI_MODULES", ())
    plan = make_plan(unique_lakehouse(), source_table=three_files, file_format="csv", compression="brotli")
    stream = python_read.read(plan, local_platform)
    with pytest.raises(CompressionError, match="level 5 needs"):
        python_write.write(stream.reader, plan, local_platform)
    staging = Path(staging_uri(plan, local_platform))
    assert not staging.exists() or not any(p.is_file() for p in staging.rglob("*"))
    _plan, staged = export(local_platform, three_files, compression="brotli", compression_level=8)
    (only,) = staged.files
    assert _ids(decompress(Path(only.uri), "brotli")) == list(range(1, 3001))
