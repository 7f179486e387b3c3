"""Test-only JVM settings that make the tests' Spark drivers start and run faster (never users' runs).

Most of the integration tests' time is JVM start-up: every ``fabgen run`` child, notebook kernel and
the test session itself starts a Spark driver that loads some 15,000 classes. Two test-only settings
cut that, handed to each driver through ``SPARK_SUBMIT_OPTS`` (which spark-submit adds to the driver
JVM's command line, silently, unlike ``JAVA_TOOL_OPTIONS``) and to spark-submit's own launcher JVM
through ``SPARK_LAUNCHER_OPTS``:

- class-data sharing (Java's AppCDS): one dynamic archive of the classes a Spark + Delta driver
  loads, made once (``.fabgen/cds/``, keyed by the Java and pyspark installs) by a small Delta run
  with ``-XX:ArchiveClassesAtExit``, then mapped by every driver with ``-XX:SharedArchiveFile``;
- for the short-lived children only: the C1 JIT alone (``-XX:TieredStopAtLevel=1``) and the serial
  GC, which spend far less CPU on a run of a few seconds than C2 and G1's threads do on 2 cores.

Measured on one child (SparkSession, Delta write, read, append, read), JVM CPU seconds: about 38
by default, 31 with the archive, 21 with C1 + serial GC, 17 with both. ``FABGEN_TEST_JVM_SPEEDUPS=0``
turns all of it off. Nothing here changes what Spark computes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CDS_DIR = REPO / ".fabgen" / "cds"
#: CDS's own log lines (an archive made for another Java or class path is just not used) stay out of
#: the output the tests check
QUIET_CDS = ("-Xlog:cds=off", "-Xlog:cds+dynamic=off")
#: for JVMs that live a few seconds to a few minutes (children, notebook kernels)
SHORT_LIVED = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")

#: the archive's training run: the classes a run loads (session, Delta write/append/read, a shuffle)
_TRAINING = """
import os, sys
from fabgen_runtime.engines.spark.local_spark import local_spark
s = local_spark()
d = sys.argv[1]
rows = lambda a, b: s.range(a, b).selectExpr("id", "concat('x', id) AS name")
rows(0, 20).write.format("delta").save(d + "/t")
rows(20, 30).write.format("delta").mode("append").save(d + "/t")
df = s.read.format("delta").load(d + "/t")
df.groupBy((df.id % 3).alias("k")).count().collect()
df.write.mode("overwrite").option("header", "true").csv(d + "/csv")
print(s.sparkContext._gateway.proc.pid, flush=True)
"""


def enabled() -> bool:
    """Whether the tests use these settings (``FABGEN_TEST_JVM_SPEEDUPS``, default on; needs pyspark)."""
    import importlib.util

    wanted = os.environ.get("FABGEN_TEST_JVM_SPEEDUPS", "1") not in ("0", "false", "")
    return wanted and importlib.util.find_spec("pyspark") is not None


def _archive_key() -> str:
    """What the archive depends on: the java binary and the pyspark install (its jars)."""
    import pyspark

    java = shutil.which("java", path=_java_path())
    parts = [sys.executable, pyspark.__version__, str(Path(pyspark.__file__).parent)]
    if java:
        real = Path(java).resolve()
        parts += [str(real), str(real.stat().st_mtime_ns)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _java_path() -> str:
    java_home = os.environ.get("JAVA_HOME")
    path = os.environ.get("PATH", "")
    return f"{java_home}/bin{os.pathsep}{path}" if java_home else path


def _wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def cds_archive() -> Path | None:
    """The class-data archive of a Spark + Delta driver, made once (about one child run) when missing."""
    CDS_DIR.mkdir(parents=True, exist_ok=True)
    archive = CDS_DIR / f"spark-{_archive_key()}.jsa"
    if archive.is_file():
        return archive
    partial = archive.with_name(f"{archive.name}.{os.getpid()}.tmp")
    with tempfile.TemporaryDirectory(prefix="fabgen-cds-") as work:
        env = {
            **os.environ,
            "SPARK_SUBMIT_OPTS": " ".join((f"-XX:ArchiveClassesAtExit={partial}", *QUIET_CDS, *SHORT_LIVED)),
            "SPARK_LAUNCHER_OPTS": " ".join(SHORT_LIVED),
            "FABGEN_SPARK_DRIVER_MEMORY": "1g",
            "FABGEN_SHUFFLE_PARTITIONS": "2",
            "FABGEN_SPARK_WAREHOUSE": str(Path(work) / "warehouse"),
        }
        proc = subprocess.run(
            [sys.executable, "-c", _TRAINING, work],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        lines = proc.stdout.split()
        # the driver JVM writes the archive as it exits, after the Python process that started it
        if proc.returncode != 0 or not lines or not _wait_for_exit(int(lines[-1]), 300):
            warnings.warn(
                f"no JVM class-data archive (the tests run without it): {proc.stderr[-1500:]}", stacklevel=1
            )
            partial.unlink(missing_ok=True)
            return None
    if not partial.is_file():
        warnings.warn("the JVM wrote no class-data archive (the tests run without it)", stacklevel=1)
        return None
    os.replace(partial, archive)
    for old in CDS_DIR.glob("spark-*.jsa"):  # archives of earlier Java or pyspark installs
        if old != archive:
            old.unlink(missing_ok=True)
    return archive


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def configure(environ: os._Environ[str] | dict[str, str]) -> str:
    """Set the children's settings in ``environ``; return the options for the test session's own driver.

    Every process the tests start inherits ``SPARK_SUBMIT_OPTS`` / ``SPARK_LAUNCHER_OPTS`` (the archive,
    C1, serial GC). The session's own driver runs for the whole suite, so it gets only the archive.
    """
    archive = cds_archive()
    sharing = (f"-XX:SharedArchiveFile={archive}", *QUIET_CDS) if archive else ()
    base = environ.get("SPARK_SUBMIT_OPTS", "")
    environ["SPARK_SUBMIT_OPTS"] = _join(base, *sharing, *SHORT_LIVED)
    environ["SPARK_LAUNCHER_OPTS"] = _join(environ.get("SPARK_LAUNCHER_OPTS", ""), *SHORT_LIVED)
    return _join(base, *sharing)
