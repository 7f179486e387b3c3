"""The format, compression and source registries are the one list validation and naming use.

A codec or format registered at run time is accepted by ``parse_config`` and named by
``build_plan`` from its own attributes; nothing else keeps a second table of names or suffixes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from config_rows import base, fails
from fabgen_runtime import compression, formats, sources
from fabgen_runtime.configs import parse_config
from fabgen_runtime.plan import RunContext, build_plan

CTX = RunContext.create("2025-12-12", "UTC", execution_id="exec-1", now=datetime(2025, 12, 12, tzinfo=UTC))


@pytest.fixture
def xz_and_tsv() -> Iterator[None]:
    """A text codec ``xz`` (suffix ``.xz``, levels 0-9) and a text format ``tsv``, registered for one test."""
    compression.register(compression.Codec("xz", range(0, 10), 6, suffix=".xz", python_module="lzma"))
    formats.register(formats.FileFormat(name="tsv", spark_format="csv", extension="tsv", has_header=True))
    yield
    compression.REGISTRY.unregister("xz")
    formats.REGISTRY.unregister("tsv")


def test_a_registered_codec_and_format_are_accepted_and_named_from_their_registration(xz_and_tsv) -> None:
    config = parse_config(
        base(export_name="orders", file_format="tsv", compression="xz", compression_level=9)
    )
    plan = build_plan(config, CTX, export_run_id="a1b2c3d4-0000-4000-8000-000000000001")
    assert plan.output.post_process
    assert plan.output.filename.endswith(".tsv")
    assert plan.output.compressed_filename == plan.output.filename + ".xz"


def test_levels_and_formats_come_from_the_codec(xz_and_tsv) -> None:
    fails(base(file_format="tsv", compression="xz", compression_level=10), "compression_level", "0-9")
    fails(base(file_format="parquet", compression="xz"), "compression", "does not apply to parquet", "csv")


def test_unknown_names_list_what_is_registered() -> None:
    fails(base(compression="xz"), "compression", *compression.names())
    fails(base(file_format="tsv"), "file_format", *formats.names())
    fails(base(source_type="kusto"), "source_type", *sources.source_types())


@pytest.mark.parametrize("codec", compression.names())
@pytest.mark.parametrize("file_format", formats.names())
def test_every_registered_pair_is_either_valid_or_refused_by_name(codec: str, file_format: str) -> None:
    codec_entry, format_entry = compression.get(codec), formats.get(file_format)
    row = base(file_format=file_format, compression=codec)
    if codec_entry.applies_to(format_entry):
        config = parse_config(row)
        output = build_plan(config, CTX, export_run_id="a1b2c3d4-0000-4000-8000-000000000001").output
        assert output.post_process == codec_entry.post_process(format_entry)
        if output.post_process and not codec_entry.archive:
            assert output.compressed_filename.endswith(codec_entry.suffix)
    else:
        fails(row, "compression", f"{codec} does not apply to {file_format}")
