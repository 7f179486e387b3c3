"""The stand-in's ``abfss://`` file system class (``java/fabgen/standin/NoReplaceRenameFileSystem.java``),
compiled once against the venv's pyspark jars into ``.fabgen/standin/`` (keyed by the source's hash).

Hadoop's local rename checks for the destination and then moves, so renames racing onto one name
could all succeed, where OneLake refuses every one but the first; this class makes the check and the
move one step, so the stand-in is not kinder than OneLake there.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).parent / "java" / "fabgen" / "standin" / "NoReplaceRenameFileSystem.java"
CLASS = "fabgen.standin.NoReplaceRenameFileSystem"
CACHE = Path(__file__).resolve().parents[3] / ".fabgen" / "standin"


def rename_fs_jar() -> Path:
    """The jar holding :data:`CLASS` (compiled with ``javac`` and packed with ``jar`` on first use)."""
    import pyspark

    digest = hashlib.sha256(SOURCE.read_bytes() + pyspark.__version__.encode()).hexdigest()[:16]
    jar = CACHE / f"standin-rename-{digest}.jar"
    if jar.exists():
        return jar
    CACHE.mkdir(parents=True, exist_ok=True)
    classpath = str(Path(pyspark.__file__).parent / "jars" / "*")
    with tempfile.TemporaryDirectory(prefix="standin-javac-") as work:
        subprocess.run(
            ["javac", "--release", "8", "-nowarn", "-cp", classpath, "-d", work, str(SOURCE)],
            check=True,
            capture_output=True,
        )
        partial = jar.with_suffix(".tmp")
        subprocess.run(["jar", "cf", str(partial), "-C", work, "."], check=True, capture_output=True)
        partial.replace(jar)
    return jar
