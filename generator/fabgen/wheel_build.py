"""Write a pure-Python wheel (PEP 427) straight from a package folder: offline and byte-reproducible.

The runtime is one pure-Python package with no dependencies, so its wheel is a zip of the package's
``.py`` files plus a ``.dist-info`` folder (``METADATA``, ``WHEEL``, ``top_level.txt``, ``RECORD``).
Writing it here, rather than through ``pip wheel`` and an isolated setuptools build, needs no package
index: ``fabgen deploy`` works behind a proxy that blocks PyPI, and a build never fails because a
build backend could not be downloaded. Entries are sorted and carry a fixed time and mode, so the
same sources always give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

# 1980-01-01 00:00:00, the earliest time a zip entry can carry: fixed so builds are reproducible.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o644 << 16
_SKIP_PARTS = ("__pycache__", "build", "dist")


@dataclass(frozen=True)
class Distribution:
    """What a wheel's metadata says: name, version, summary, supported Pythons and its one tag."""

    name: str  # the distribution name, e.g. "fabgen-runtime"
    version: str
    summary: str
    requires_python: str
    tag: str  # e.g. "py3-none-any"

    @property
    def stem(self) -> str:
        """The name as wheel files spell it (``fabgen_runtime-0.1.0``)."""
        return f"{self.name.replace('-', '_')}-{self.version}"

    def metadata(self) -> str:
        lines = [
            "Metadata-Version: 2.1",
            f"Name: {self.name}",
            f"Version: {self.version}",
            f"Summary: {self.summary}",
            f"Requires-Python: {self.requires_python}",
        ]
        return "\n".join(lines) + "\n"

    def wheel(self) -> str:
        lines = [
            "Wheel-Version: 1.0",
            "Generator: fabgen",  # no version: a new fabgen must not change an unchanged runtime's bytes
            "Root-Is-Purelib: true",
            f"Tag: {self.tag}",
        ]
        return "\n".join(lines) + "\n"


def package_sources(package_dir: Path) -> dict[str, bytes]:
    """Every ``.py`` file under ``package_dir``, read once, keyed by its wheel path (``package/a/b.py``).

    Caches and build folders are skipped; nothing else than Python sources goes into the wheel.
    """
    sources: dict[str, bytes] = {}
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir)
        if any(part in _SKIP_PARTS or part.endswith(".egg-info") for part in relative.parts):
            continue
        sources[f"{package_dir.name}/{relative.as_posix()}"] = path.read_bytes()
    return sources


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"sha256={digest}"


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.external_attr = _FILE_MODE
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_wheel(dist: Distribution, sources: dict[str, bytes], out_dir: Path) -> Path:
    """Write ``sources`` (wheel path -> bytes) as ``dist``'s wheel into ``out_dir`` and return its path."""
    dist_info = f"{dist.stem}.dist-info"
    top_level = sorted({name.split("/", 1)[0] for name in sources})
    entries = dict(sorted(sources.items()))
    entries[f"{dist_info}/METADATA"] = dist.metadata().encode("utf-8")
    entries[f"{dist_info}/WHEEL"] = dist.wheel().encode("utf-8")
    entries[f"{dist_info}/top_level.txt"] = ("\n".join(top_level) + "\n").encode("utf-8")
    record_name = f"{dist_info}/RECORD"
    record = [f"{name},{_record_hash(data)},{len(data)}" for name, data in entries.items()]
    entries[record_name] = ("\n".join([*record, f"{record_name},,"]) + "\n").encode("utf-8")

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{dist.stem}-{dist.tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():  # dist-info last, RECORD at the very end (PEP 427)
            archive.writestr(_entry(name), data)
    return path
