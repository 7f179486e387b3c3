"""``build_plan``: output names, trigger names, staging and target_path, resolved before any write."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from config_rows import base, spec_events_row
from fabgen_runtime.configs import parse_config
from fabgen_runtime.errors import ConfigError, PathError
from fabgen_runtime.plan import STAGING_FOLDER, RunContext, build_plan

CTX = RunContext.create(
    "2025-12-12", "UTC", execution_id="exec-1", now=datetime(2025, 12, 12, 14, 30, 22, tzinfo=UTC)
)
RUN_ID = "a1b2c3d4-0000-4000-8000-000000000001"


def cfg(**changes: Any):
    """A parsed config from the shared valid row, named ``sales/orders``; ``changes`` override."""
    return parse_config(base(**{"export_name": "orders", **changes}))


def plan(config, **kwargs: Any):
    return build_plan(config, CTX, export_run_id=RUN_ID, **kwargs)


def test_default_filename_pattern() -> None:
    out = plan(cfg()).output
    assert out.filename == "orders_20251212_143022.csv"
    assert out.part_filename(1) == "orders_20251212_143022_part0001.csv"
    assert out.part_filename(12) == "orders_20251212_143022_part0012.csv"
    assert out.compressed_filename is None and out.trigger_filename is None
    assert out.compression == "none" and not out.post_process
    assert out.directory == "exports/sales"
    assert out.path(out.filename) == "exports/sales/orders_20251212_143022.csv"
    assert (out.workspace, out.lakehouse, out.file_format, out.extension) == (
        "DEV_WORKSPACE",
        "lh_exports",
        "csv",
        "csv",
    )


@pytest.mark.parametrize(("fmt", "ext"), [("parquet", "parquet"), ("json", "json")])
def test_default_pattern_uses_the_format_extension(fmt: str, ext: str) -> None:
    assert plan(cfg(file_format=fmt)).output.filename == f"orders_20251212_143022.{ext}"


def test_parquet_embeds_its_codec() -> None:
    out = plan(cfg(file_format="parquet", target_filename_pattern="orders.parquet")).output
    assert (out.compression, out.post_process, out.compressed_filename) == ("snappy", False, None)
    out = plan(cfg(file_format="parquet", compression="gzip")).output
    assert (out.compression, out.post_process, out.compressed_filename) == ("gzip", False, None)


def test_spec_gzip_example() -> None:
    out = plan(
        cfg(
            compression="gzip",
            compression_level=6,
            file_format_options={"header": "true", "sep": ","},
            target_filename_pattern="orders_{run_date:%Y%m%d}.csv",
        )
    ).output
    assert out.filename == "orders_20251212.csv"
    assert out.compressed_filename == "orders_20251212.csv.gz"
    assert (out.compression, out.compression_level, out.post_process) == ("gzip", 6, True)
    assert out.writer_options == {"header": "true", "sep": ","}


@pytest.mark.parametrize(("codec", "suffix"), [("brotli", ".br"), ("zstd", ".zst")])
def test_other_stream_codecs_append_their_suffix(codec: str, suffix: str) -> None:
    out = plan(cfg(file_format="json", compression=codec, target_filename_pattern="e.json")).output
    assert out.compressed_filename == f"e.json{suffix}"


def test_spec_zip_example_with_compressed_filename_pattern() -> None:
    out = plan(
        cfg(
            compression="zipdeflate",
            target_filename_pattern="orders_{run_date:%Y%m%d}.csv",
            compressed_filename_pattern="A0_ORDERS_{run_date:%Y%m%d}.zip",
        )
    ).output
    assert out.filename == "orders_20251212.csv"
    assert out.compressed_filename == "A0_ORDERS_20251212.zip"


@pytest.mark.parametrize("codec", ["zip", "zipdeflate"])
def test_zip_without_pattern_replaces_the_extension(codec: str) -> None:
    out = plan(cfg(compression=codec, target_filename_pattern="orders_{run_date:%Y%m%d}.csv")).output
    assert out.compressed_filename == "orders_20251212.zip"


def test_split_parts() -> None:
    out = plan(cfg(target_filename_pattern="orders_{run_date:%Y%m%d}.csv", max_rows_per_file=1000)).output
    assert out.max_rows_per_file == 1000
    assert out.filename == "orders_20251212.csv"
    assert [out.part_filename(n) for n in (1, 2, 10000)] == [
        "orders_20251212_part0001.csv",
        "orders_20251212_part0002.csv",
        "orders_20251212_part10000.csv",
    ]


def test_split_part_name_ignores_dots_inside_placeholders() -> None:
    out = plan(cfg(target_filename_pattern="orders_{run_date:%Y.%m.%d}", max_rows_per_file=5)).output
    assert out.filename == "orders_2025.12.12"
    assert out.part_filename(1) == "orders_2025.12.12_part0001"
    out = plan(cfg(target_filename_pattern="o_{{v1.0}}_{run_date:%Y.%m}.csv", max_rows_per_file=5)).output
    assert out.part_filename(2) == "o_{v1.0}_2025.12_part0002.csv"


@pytest.mark.parametrize(
    ("pattern", "first", "second"),
    [
        ("orders_{part}.csv", "orders_1.csv", "orders_2.csv"),
        ("orders_{part:04d}_{run_date:%Y%m%d}.csv", "orders_0001_20251212.csv", "orders_0002_20251212.csv"),
        ("{export_name}-{part:03d}.{ext}", "orders-001.csv", "orders-002.csv"),
    ],
)
def test_part_placeholder_in_the_pattern(pattern: str, first: str, second: str) -> None:
    out = plan(cfg(target_filename_pattern=pattern, max_rows_per_file=10)).output
    assert out.filename == first
    assert (out.part_filename(1), out.part_filename(2)) == (first, second)


def test_split_with_gzip_is_a_tar_gz() -> None:
    out = plan(
        cfg(compression="gzip", max_rows_per_file=10, target_filename_pattern="events_{run_date:%Y%m%d}.csv")
    ).output
    assert out.compressed_filename == "events_20251212.tar.gz"
    assert out.part_filename(1) == "events_20251212_part0001.csv"


def test_split_with_part_placeholder_and_zip_drops_the_part_from_the_archive_name() -> None:
    out = plan(
        cfg(compression="zip", max_rows_per_file=10, target_filename_pattern="events_{part:04d}.csv")
    ).output
    assert out.compressed_filename == "events.zip"
    out = plan(cfg(compression="gzip", max_rows_per_file=10, target_filename_pattern="ev.{part}.csv")).output
    assert out.compressed_filename == "ev.tar.gz"


def test_spec_split_zip_example() -> None:
    out = plan(
        parse_config(spec_events_row()),
        watermark="2025-12-11T23:59:59",
    ).output
    assert (out.directory, out.compressed_filename, out.part_filename(2)) == (
        "events",
        "events_20251212.zip",
        "events_20251212_part0002.csv",
    )


def test_trigger_names() -> None:
    out = plan(
        cfg(
            target_filename_pattern="orders_{run_date:%Y%m%d}.csv",
            trigger_file_pattern="A0_ORDERS_{process_date:%Y%m%d%H%M%S}.done",
        )
    ).output
    assert out.trigger_filename == "A0_ORDERS_20251212143022.done"
    period = plan(
        cfg(
            extract_type="period",
            period_filter_column="order_date",
            period_date_query="SELECT start_date, end_date FROM p('{run_date:%Y-%m-%d}')",
            target_filename_pattern="orders_{period_start_date:%Y%m%d}_{period_end_date:%Y%m%d}.csv",
            trigger_file_pattern="A0_TRANS_{period_start_date:%Y%m%d}.done",
        ),
        period_start=datetime(2025, 12, 1),
        period_end=datetime(2025, 12, 31),
    )
    assert period.output.filename == "orders_20251201_20251231.csv"
    assert period.output.trigger_filename == "A0_TRANS_20251201.done"
    assert (period.period_start, period.period_end) == (datetime(2025, 12, 1), datetime(2025, 12, 31))


def test_a_trigger_may_not_overwrite_the_data_file() -> None:
    # validate refuses these rows (test_input_rules); the plan checks again on the real values.
    with pytest.raises(ConfigError, match="also the name of a data file"):
        cfg(target_filename_pattern="orders.csv", trigger_file_pattern="orders.csv")
    same = replace(cfg(target_filename_pattern="orders.csv"), trigger_file_pattern="orders.csv")
    with pytest.raises(PathError, match="trigger would overwrite"):
        plan(same)
    gzip = replace(cfg(compression="gzip", target_filename_pattern="o.csv"), trigger_file_pattern="o.csv.gz")
    with pytest.raises(PathError, match="trigger_file_pattern"):
        plan(gzip)


def test_staging_dir_is_unique_per_export_run() -> None:
    config = cfg()
    first, second = build_plan(config, CTX), build_plan(config, CTX)
    assert first.export_run_id != second.export_run_id
    assert first.output.staging_directory == f"{STAGING_FOLDER}/{first.export_run_id}"
    assert second.output.staging_directory == f"{STAGING_FOLDER}/{second.export_run_id}"
    assert first.output.staging_directory != second.output.staging_directory
    # Same file names for both runs of the same context; only staging and run ids differ.
    assert first.output.filename == second.output.filename
    assert first.run_id == first.export_run_id[:8]


def test_run_id_placeholder_is_the_first_eight_characters() -> None:
    out = plan(cfg(target_filename_pattern="o_{run_id}.csv", trigger_file_pattern="{run_id}.done")).output
    assert (out.filename, out.trigger_filename) == ("o_a1b2c3d4.csv", "a1b2c3d4.done")


def test_an_export_run_id_that_is_a_path_is_refused() -> None:
    with pytest.raises(PathError, match="export_run_id"):
        build_plan(cfg(), CTX, export_run_id="../x")


@pytest.mark.parametrize(
    ("target_path", "directory"),
    [
        ("exports/sales/", "exports/sales"),
        ("exports/sales", "exports/sales"),
        ("exports//sales///", "exports/sales"),
        ("", ""),
        ("/", ""),
        ("exports/{run_date:%Y}/{run_date:%m}/", "exports/2025/12"),
        ("{run_date:%Y}/{run_date:%m}/{export_name}", "2025/12/orders"),
        ("a/{run_date:%Y/%m/%d}", "a/2025/12/12"),
        ("x/{{literal}}/", "x/{literal}"),
    ],
)
def test_target_path_normalisation(target_path: str, directory: str) -> None:
    if target_path == "/":
        # Validation refuses these literally; the plan still normalises what it is given.
        from dataclasses import replace

        config = replace(cfg(), target_path=target_path)
    else:
        config = cfg(target_path=target_path)
    out = plan(config).output
    assert out.directory == directory
    assert out.path("f.csv") == (f"{directory}/f.csv" if directory else "f.csv")


def test_dot_segments_in_a_resolved_target_path_are_refused() -> None:
    from dataclasses import replace

    with pytest.raises(PathError, match=r"'\.' or '\.\.'"):
        plan(replace(cfg(), target_path="./exports/x/."))


def _incremental(**changes: Any):
    return cfg(extract_type="incremental", incremental_column="modified_at", **changes)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target_filename_pattern": "orders_{watermark}.csv"}, "target_filename_pattern"),
        ({"target_path": "exports/{watermark}"}, "target_path"),
        ({"trigger_file_pattern": "{watermark}.done"}, "trigger_file_pattern"),
        (
            {"compression": "zip", "compressed_filename_pattern": "{watermark}.zip"},
            "compressed_filename_pattern",
        ),
    ],
)
@pytest.mark.parametrize("watermark", ["../../escape", "a/../../b", "x\\..\\y", "a:b", "a\nb"])
def test_resolved_values_that_escape_files_raise_path_error(
    changes: dict[str, Any], field: str, watermark: str
) -> None:
    config = _incremental(**changes)
    with pytest.raises(PathError) as caught:
        plan(config, watermark=watermark)
    issue = caught.value.issues[0]
    assert (issue.where, issue.field) == ("sales/orders", field)
    assert isinstance(caught.value, ConfigError)  # exit code 2: bad input, nothing written


@pytest.mark.parametrize(
    ("changes", "watermark"),
    [
        ({"target_path": "exports/{watermark}"}, ".."),
        ({"target_path": "{watermark}/{run_date:%Y}"}, ".."),
        ({"target_filename_pattern": "{watermark}"}, ".."),
        ({"target_filename_pattern": "{watermark}"}, ""),
        ({"target_filename_pattern": "o_{watermark}.csv"}, "/etc/passwd"),
        ({"trigger_file_pattern": "t_{watermark}"}, "sub/t"),
    ],
)
def test_more_escapes_raise_path_error(changes: dict[str, Any], watermark: str) -> None:
    with pytest.raises(PathError):
        plan(_incremental(**changes), watermark=watermark)


def test_a_safe_watermark_in_a_path_resolves() -> None:
    out = plan(_incremental(target_path="exports/{watermark}/"), watermark="2025-12-11").output
    assert out.directory == "exports/2025-12-11"


def test_a_missing_period_date_is_a_config_error_naming_the_field() -> None:
    config = cfg(
        extract_type="period",
        period_filter_column="d",
        period_date_query="SELECT 1",
        target_filename_pattern="o_{period_start_date:%Y%m%d}.csv",
    )
    with pytest.raises(ConfigError, match="target_filename_pattern") as caught:
        plan(config)
    assert "'{period_start_date}' has no value" in str(caught.value)


def test_first_incremental_run_without_watermark() -> None:
    result = plan(_incremental(target_filename_pattern="o_{watermark}x.csv"))
    assert result.watermark is None
    assert result.output.filename == "o_x.csv"  # no watermark renders empty


def test_plan_carries_the_config_and_context() -> None:
    config = cfg(max_rows_per_file=5, compression="gzip", compression_level=3)
    result = plan(config)
    assert result.config is config and result.context is CTX
    assert result.export_run_id == RUN_ID and result.source.query == "SELECT * FROM `dbo`.`orders`"
    values = result.values()
    assert values["export_name"] == "orders" and values["ext"] == "csv" and "part" not in values


def test_a_lakehouse_query_of_another_lakehouse_is_refused_when_the_plan_is_built() -> None:
    """The run's static check knows the row's lakehouse, as validate's does (one rule)."""
    config = cfg(source_table=None, source_query="SELECT * FROM lh_gold.dbo.orders")
    assert plan(config).source.mode == "query"
    with pytest.raises(ConfigError, match="outside the source lakehouse 'lh_gold'"):
        plan(replace(config, source_query="SELECT * FROM lh_other.dbo.orders"))  # a row that skipped validate
