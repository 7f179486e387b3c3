"""``fabgen build-runtime``: the wheel is pure Python, dependency-free, reproducible, and complete.

The last test installs the wheel into a fresh virtual environment holding only pyspark and delta-spark
(what Fabric's Spark runtime provides) and runs a real export with it in a subprocess.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import fabgen_runtime
import pytest
from click.testing import CliRunner
from deploy_project import write_project
from fabgen.cli import main
from fabgen.wheel import RuntimeSource, build_runtime_wheel, read_wheel

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RUNTIME_SOURCE = REPO / "runtime" / "fabgen_runtime"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = CliRunner().invoke(main, ["build-runtime", "--out", str(out)])
    assert result.exit_code == 0, result.output
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1
    assert str(wheels[0]) in result.output and "bytes" in result.output and "no dependencies" in result.output
    return wheels[0]


def test_wheel_is_pure_python_without_dependencies(built: Path) -> None:
    assert built.name == f"fabgen_runtime-{fabgen_runtime.__version__}-py3-none-any.whl"
    info = read_wheel(built)
    assert info.tags == ("py3-none-any",)
    assert info.requires == ()
    for module in ("__init__", "config", "errors", "placeholders", "plan", "platform"):
        assert f"fabgen_runtime/{module}.py" in info.modules
    # every module of the source tree, every package (engines/spark, engines/python, ...) included
    source = RUNTIME_SOURCE.parent
    wanted = {p.relative_to(source).as_posix() for p in RUNTIME_SOURCE.rglob("*.py")}
    assert wanted - set(info.modules) == set(), "modules missing from the wheel"
    assert not [m for m in info.modules if not m.startswith("fabgen_runtime/")]


def test_builds_are_byte_identical(built: Path, tmp_path: Path) -> None:
    again = build_runtime_wheel(tmp_path)
    assert again.path.read_bytes() == built.read_bytes()


def test_pip_installs_the_wheel_offline_and_the_package_imports(built: Path, tmp_path: Path) -> None:
    """pip itself (no index) accepts the wheel fabgen writes, and what it installs is the runtime."""
    target = tmp_path / "site"
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-index",
        "--no-deps",
        "--quiet",
        "--target",
        str(target),
    ]
    subprocess.run([*pip, str(built)], check=True)
    record = (target / f"fabgen_runtime-{fabgen_runtime.__version__}.dist-info" / "RECORD").read_text()
    assert "fabgen_runtime/engines/python/query.py,sha256=" in record
    probe = "import fabgen_runtime, sys; print(fabgen_runtime.__file__, fabgen_runtime.__version__)"
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [str(target / "fabgen_runtime" / "__init__.py"), fabgen_runtime.__version__]


def test_builds_from_the_installed_package_without_a_checkout(built: Path, tmp_path: Path) -> None:
    package = Path(fabgen_runtime.__file__).parent
    info = build_runtime_wheel(tmp_path, RuntimeSource("installed", package, fabgen_runtime.__version__))
    assert info.path.name == built.name
    assert info.modules == read_wheel(built).modules
    assert info.requires == ()


def test_default_output_is_the_projects_dist_folder(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj")
    result = CliRunner().invoke(main, ["build-runtime", "-p", str(root / "exports")])
    assert result.exit_code == 0, result.output
    wheel = f"fabgen_runtime-{fabgen_runtime.__version__}-py3-none-any.whl"
    assert [p.name for p in (root / "dist").iterdir()] == [wheel]


_EXPORT_SCRIPT = textwrap.dedent(
    """
    import importlib.metadata, json, os, sys
    import fabgen_runtime
    from fabgen_runtime.engines.spark import local_spark, writer
    from fabgen_runtime import parse_config, platform
    from fabgen_runtime.engines.spark import publish
    from fabgen_runtime.plan import RunContext, build_plan

    assert fabgen_runtime.__file__.startswith(sys.prefix), fabgen_runtime.__file__
    local = platform.LocalPlatform(os.environ["FABGEN_ONELAKE_ROOT"])
    platform.use(local)
    spark = local_spark.local_spark()
    table = platform.table_uri(local, "ws", "lh_gold", "dbo", "orders")
    rows = [(i, f"customer {i}", i * 1.5) for i in range(1, 1201)]
    source = spark.createDataFrame(rows, "order_id INT, customer STRING, amount DOUBLE")
    source.write.format("delta").save(table)

    config = parse_config({
        "export_group_name": "wheel", "export_name": "orders", "is_active": True, "execution_group": 1,
        "source_type": "lakehouse", "source_workspace": "ws", "source_datastore": "lh_gold",
        "source_table": "orders", "target_workspace": "ws", "target_lakehouse": "lh_exports",
        "target_path": "out/", "target_filename_pattern": "orders_{run_date:%Y%m%d}.csv",
        "file_format": "csv", "compression": "gzip", "file_format_options": {"header": "true"},
    })
    plan = build_plan(config, RunContext.create("2025-01-31", "UTC"))
    df = spark.read.format("delta").load(table).orderBy("order_id")
    staged = writer.write(df, plan, local)
    publish.publish(staged, plan, local)
    # The Python engine ships in the wheel but is never imported by a Spark run (no pyarrow here).
    import importlib.util
    assert importlib.util.find_spec("fabgen_runtime.engines.python") is not None
    assert "fabgen_runtime.engines.python" not in sys.modules
    print(json.dumps({
        "requires": importlib.metadata.requires("fabgen-runtime"),
        "files": [f.name for f in staged.files],
        "rows": sum(f.rows for f in staged.files),
        "target": platform.files_uri(local, "ws", "lh_exports", "out"),
    }))
    spark.stop()
    """
)


def _installed(python: Path) -> set[str]:
    cmd = [str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {package["name"].lower().replace("_", "-") for package in json.loads(out)}


@pytest.mark.jvm
@pytest.mark.full  # the default tier: every module is in the wheel (above); compat-runtime-1.3 runs
# the runtime in a venv with only the runtime's Spark packages
def test_wheel_runs_an_export_in_a_fresh_venv_with_only_pyspark_and_delta(
    built: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # no --system-site-packages
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "pyspark==4.1.1", "delta-spark==4.2.0"], check=True)
    before = _installed(python)
    subprocess.run([*pip, str(built)], check=True)  # dependencies allowed: there must be none to install
    assert _installed(python) - before == {"fabgen-runtime"}
    assert before - {"pip", "setuptools"} == {"pyspark", "py4j", "delta-spark", "importlib-metadata", "zipp"}

    onelake = tmp_path / "onelake"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "SPARK_HOME", "PYSPARK"))
    }
    env.update(
        {
            "FABGEN_ONELAKE_ROOT": str(onelake),
            "FABGEN_PLATFORM": "local",
            "FABGEN_SPARK_MASTER": "local[2]",
            "FABGEN_SPARK_DRIVER_MEMORY": "1g",
            "FABGEN_SPARK_WAREHOUSE": str(tmp_path / "warehouse"),
        }
    )
    cmd = [str(python), "-c", _EXPORT_SCRIPT]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["requires"] is None
    assert summary["files"] == ["orders_20250131.csv.gz"] and summary["rows"] == 1200

    # read the published file back with the standard library, not Spark
    published = onelake / "ws" / "lh_exports.Lakehouse" / "Files" / "out" / "orders_20250131.csv.gz"
    assert published.is_file(), sorted(p.relative_to(onelake).as_posix() for p in onelake.rglob("*"))
    with gzip.open(published, "rt", encoding="utf-8") as fh:
        rows = list(csv.reader(io.StringIO(fh.read())))
    assert rows[0] == ["order_id", "customer", "amount"]
    assert len(rows) == 1201
    assert sorted(int(r[0]) for r in rows[1:]) == list(range(1, 1201))
    assert {r[1] for r in rows[1:]} == {f"customer {i}" for i in range(1, 1201)}
