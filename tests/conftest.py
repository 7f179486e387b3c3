"""Shared fixtures: one SparkSession per test session, a local OneLake folder, the local warehouse.

Integration tests are marked ``spark`` (and ``warehouse`` when they need PostgreSQL), so
``pytest -m "not spark"`` runs the fast unit tests without a JVM.
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


def pytest_collection_finish(session: pytest.Session) -> None:
    """When the selected tests start JVMs, give every Spark driver the tests' start-up settings first."""
    import jvm_speed

    jvm_markers = {"spark", "notebook"}
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
    from fabgen_runtime.local_spark import local_spark

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
