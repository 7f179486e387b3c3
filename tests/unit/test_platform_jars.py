"""Which jars the local engine loads: chosen from the installed pyspark (no JVM here)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from fabgen_runtime.engines.spark import local_spark
from fabgen_runtime.errors import PlatformError

RT20 = (
    "io.delta:delta-spark_4.1_2.13:4.2.0",
    "io.delta:delta-storage:4.2.0",
    "org.postgresql:postgresql:42.7.8",
)
RT13 = (
    "io.delta:delta-spark_2.12:3.2.1",
    "io.delta:delta-storage:3.2.1",
    "org.postgresql:postgresql:42.7.8",
)


@pytest.mark.parametrize(
    ("version", "expected"),
    [("4.1.1", RT20), ("4.1.0", RT20), ("4.1.2.dev0", RT20), ("3.5.5", RT13), ("3.5.3", RT13), ("3.5", RT13)],
)
def test_jars_follow_the_pyspark_series(version: str, expected: tuple[str, ...]) -> None:
    assert local_spark.local_jars(version) == expected


@pytest.mark.parametrize("version", ["4.0.1", "3.4.3", "4.10.0", "3.50.1", "5.0.0", "nonsense"])
def test_other_spark_versions_are_refused(version: str) -> None:
    with pytest.raises(PlatformError, match=r"not a Fabric runtime's Spark \(supported: 4\.1\.x, 3\.5\.x\)"):
        local_spark.local_jars(version)


def test_scala_suffix_matches_the_delta_series() -> None:
    # Runtime 1.3 is Scala 2.12 (Delta 3.x); Runtime 2.0 is Scala 2.13 (Delta 4.x, named per Spark series).
    for series, coordinates in local_spark.JAR_SETS.items():
        delta, storage, jdbc = coordinates
        delta_version = delta.rsplit(":", 1)[1]
        assert storage == f"io.delta:delta-storage:{delta_version}"
        assert jdbc == local_spark.POSTGRES_JDBC
        if series.startswith("3."):
            assert delta.startswith("io.delta:delta-spark_2.12:3.2.")
        else:
            assert delta.startswith(f"io.delta:delta-spark_{series}_2.13:")
    # The default engine stays Runtime 2.0.
    assert local_spark.LOCAL_JARS == RT20
    assert local_spark.DELTA_VERSION == "4.2.0"


def test_default_is_the_installed_pyspark() -> None:
    installed = metadata.version("pyspark")
    assert local_spark.installed_pyspark_version() == installed
    assert local_spark.local_jars() == local_spark.local_jars(installed)


def test_cached_jars_are_used_without_maven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABGEN_JAR_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no mvn: a fetch would fail
    names = ["delta-spark_2.12-3.2.1.jar", "delta-storage-3.2.1.jar", "postgresql-42.7.8.jar"]
    for name in names:
        (tmp_path / name).write_bytes(b"PK")
    assert local_spark.ensure_local_jars("3.5.5") == [tmp_path / name for name in names]
    # The other series' jars are not there, and without mvn they cannot be fetched.
    missing = r"delta-spark_4\.1_2\.13-4\.2\.0\.jar is not in .*\(mvn\) is not installed"
    with pytest.raises(PlatformError, match=missing):
        local_spark.ensure_local_jars("4.1.1")


DV_DEFAULT = "spark.databricks.delta.properties.defaults.enableDeletionVectors"


@pytest.mark.parametrize(
    ("setting", "version", "expected"),
    [
        (None, "4.1.1", {DV_DEFAULT: "true"}),  # Runtime 2.0: deletion vectors on new tables
        ("fabric", "4.1.1", {DV_DEFAULT: "true"}),
        (" Fabric ", "4.1.1", {DV_DEFAULT: "true"}),
        ("", "4.1.1", {DV_DEFAULT: "true"}),
        (None, "3.5.5", {}),  # Runtime 1.3: reader 1 / writer 2 by default
        ("oss", "4.1.1", {}),
        ("OSS", "3.5.5", {}),
    ],
)
def test_fabric_defaults_follow_the_runtime_unless_oss(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, version: str, expected: dict[str, str]
) -> None:
    if setting is None:
        monkeypatch.delenv(local_spark.LOCAL_DEFAULTS_ENV, raising=False)
    else:
        monkeypatch.setenv(local_spark.LOCAL_DEFAULTS_ENV, setting)
    assert local_spark.fabric_defaults(version) == expected


def test_an_unknown_local_defaults_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local_spark.LOCAL_DEFAULTS_ENV, "databricks")
    with pytest.raises(PlatformError, match="FABGEN_LOCAL_DEFAULTS='databricks' is not one of fabric, oss"):
        local_spark.fabric_defaults("4.1.1")
