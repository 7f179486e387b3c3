"""Shared fixtures: one SparkSession per test session, a local OneLake folder, the local warehouse.

``spark`` marks the integration tests: everything that starts a JVM, a child process, PostgreSQL,
Azurite, a venv or a notebook. Every test under tests/integration and tests/notebooks gets it here (as does
any test using the ``spark`` or ``warehouse`` fixture); the few unit tests that start children carry it
themselves. So ``pytest -m "not spark"`` is the unit run (under a minute, no JVM). ``jvm`` marks the
integration tests that start a JVM (any test using the ``spark`` fixture gets it here):
``pytest -m "spark and not jvm"`` runs the JVM-free ones.

Tiers (docs/testing.md): tests marked ``full`` prove again, more slowly, what a faster test of the
default tier already proves (the Spark kill matrix's engine-neutral points, the second and third
notebook, ...). They run only in the full tier: ``bash scripts/test.sh --all``, which sets
``FABGEN_TEST_TIER=full``; the default tier (CI) deselects them and says how many.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: SPARK_SUBMIT_OPTS of the session's own driver (set in pytest_collection_finish; see jvm_speed.py)
_SESSION_DRIVER_OPTS: list[str] = []


_INTEGRATION_DIRS = (REPO / "tests" / "integration", REPO / "tests" / "notebooks")


def full_tier() -> bool:
    """Whether this session runs the full tier (``FABGEN_TEST_TIER=full``: ``scripts/test.sh --all``)."""
    return os.environ.get("FABGEN_TEST_TIER", "").lower() == "full"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the integration tests ``spark`` (by folder or fixture), the JVM ones ``jvm``; outside the
    full tier, deselect the ``full`` ones."""
    _mark_integration(items)
    if full_tier():
        return
    deselected = [item for item in items if item.get_closest_marker("full") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.get_closest_marker("full") is None]


def pytest_report_header(config: pytest.Config) -> str:
    """Say which tier runs."""
    if full_tier():
        return "tier: full (every test)"
    return "tier: default (tests marked full deselected; bash scripts/test.sh --all runs them)"


def _mark_integration(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "spark" in fixtures and item.get_closest_marker("jvm") is None:
            item.add_marker(pytest.mark.jvm)
        path = Path(str(item.path))
        integration = any(path.is_relative_to(d) for d in _INTEGRATION_DIRS)
        needs_mark = integration or "warehouse" in fixtures or item.get_closest_marker("jvm") is not None
        if needs_mark and item.get_closest_marker("spark") is None:
            item.add_marker(pytest.mark.spark)


def pytest_collection_finish(session: pytest.Session) -> None:
    """When the selected tests start JVMs, give every Spark driver the tests' start-up settings first."""
    import jvm_speed

    jvm_markers = {"jvm", "notebook"}
    if jvm_speed.enabled() and any(jvm_markers & {m.name for m in i.iter_markers()} for i in session.items):
        _SESSION_DRIVER_OPTS.append(jvm_speed.configure(os.environ))


@pytest.fixture(scope="session")
def onelake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local OneLake folder shared by the session (tests use unique lakehouse names in it)."""
    return tmp_path_factory.mktemp("onelake")


@pytest.fixture(scope="session")
def local_platform(onelake_root: Path):
    """The runtime's local platform, pointed at the session's OneLake folder."""
    from fabgen_runtime import platform

    os.environ["FABGEN_ONELAKE_ROOT"] = str(onelake_root)
    os.environ["FABGEN_PLATFORM"] = "local"
    local = platform.LocalPlatform(onelake_root)
    platform.use(local)
    yield local
    platform.use(None)


@pytest.fixture(scope="session")
def spark(local_platform):
    """The one local Delta-enabled SparkSession of the test session."""
    from fabgen_runtime.engines.spark.local_spark import local_spark

    children = os.environ.get("SPARK_SUBMIT_OPTS")
    if _SESSION_DRIVER_OPTS:  # a long-lived driver: the class-data archive, not the children's JIT/GC
        os.environ["SPARK_SUBMIT_OPTS"] = _SESSION_DRIVER_OPTS[0]
    try:
        session = local_spark()
    finally:
        if children is not None:
            os.environ["SPARK_SUBMIT_OPTS"] = children
    yield session


@pytest.fixture(scope="session")
def warehouse() -> Iterator[dict[str, str]]:
    """The local PostgreSQL warehouse, started with the project's own script; yields its env."""
    script = REPO / "scripts" / "warehouse.sh"
    subprocess.run(["bash", str(script), "start"], check=True)
    env = {
        "FABGEN_PG_HOST": os.environ.get("FABGEN_PG_HOST", "127.0.0.1"),
        "FABGEN_PG_PORT": os.environ.get("FABGEN_PG_PORT", "54329"),
        "FABGEN_PG_USER": os.environ.get("FABGEN_PG_USER", "fabgen"),
        "FABGEN_PG_PASSWORD": os.environ.get("FABGEN_PG_PASSWORD", "fabgen"),
    }
    os.environ.update(env)
    yield env
