"""The runtime wheel: build ``fabgen_runtime`` as a pure-Python wheel and prove it slim.

Fabric's Spark runtimes (1.3 and 2.0) provide pyspark and delta-spark, so the wheel must be
``py3-none-any`` and declare no dependency at all: anything it required would be fetched (or
fail to install) on Fabric.

Where the runtime source comes from, in order:

1. ``FABGEN_RUNTIME_SOURCE``: a folder holding the runtime's ``pyproject.toml``;
2. a source checkout: the repository's ``runtime/`` next to ``generator/``;
3. the installed ``fabgen_runtime`` package (fabgen depends on it, so it is always there): its
   files are staged with a minimal ``pyproject.toml`` carrying the installed version.

The package's ``.py`` files are read once and written as a wheel by :mod:`fabgen.wheel_build`
(no ``pip wheel``, no build backend, no package index): the same sources give a byte-identical
wheel, so re-rendering an Environment item changes nothing.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import importlib.util
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabgen_runtime.errors import ConfigError, FabgenError

from .wheel_build import Distribution, package_sources, write_wheel

log = logging.getLogger(__name__)

DIST_NAME = "fabgen-runtime"
PACKAGE = "fabgen_runtime"
WHEEL_TAG = "py3-none-any"
SOURCE_ENV = "FABGEN_RUNTIME_SOURCE"
SUMMARY = "The runtime that fabgen's notebooks call on Microsoft Fabric (and locally)"
REQUIRES_PYTHON = ">=3.11"


def wheel_filename(version: str) -> str:
    """The runtime wheel's file name (``fabgen build-runtime`` builds it)."""
    return f"{PACKAGE}-{version}-{WHEEL_TAG}.whl"


class RuntimeBuildError(FabgenError):
    """Building or checking the runtime wheel failed."""


@dataclass(frozen=True)
class RuntimeSource:
    """Where the runtime's sources are: a project folder (with pyproject.toml) or an installed package."""

    kind: str  # "env", "checkout" or "installed"
    path: Path  # the project folder, or the installed package folder
    version: str

    def describe(self) -> str:
        return f"{self.kind} {self.path}"


@dataclass(frozen=True)
class WheelInfo:
    """A checked runtime wheel."""

    path: Path
    name: str
    version: str
    tags: tuple[str, ...]
    requires: tuple[str, ...]
    modules: tuple[str, ...]

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def summary(self) -> str:
        tags = ", ".join(self.tags)
        return f"{self.path} ({self.size:,} bytes, {len(self.modules)} modules, {tags}, no dependencies)"


def _checkout_root() -> Path:
    # generator/fabgen/wheel.py -> the repository root
    return Path(__file__).resolve().parents[2]


def _read_pyproject(pyproject: Path) -> dict[str, Any]:
    import tomllib

    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    if project.get("name") != DIST_NAME:
        raise RuntimeBuildError(
            f"{pyproject} is not the {DIST_NAME} project (name = {project.get('name')!r})"
        )
    if project.get("dependencies"):
        raise RuntimeBuildError(
            f"{pyproject} declares dependencies {project['dependencies']}; "
            "Fabric's Spark runtime must provide everything"
        )
    return dict(project)


def _project_version(pyproject: Path) -> str:
    return str(_read_pyproject(pyproject).get("version", "0"))


def distribution(source: RuntimeSource) -> Distribution:
    """The wheel's metadata: from the project's ``pyproject.toml``, or fixed for an installed package."""
    if source.kind == "installed":
        return Distribution(DIST_NAME, source.version, SUMMARY, REQUIRES_PYTHON, WHEEL_TAG)
    project = _read_pyproject(source.path / "pyproject.toml")
    return Distribution(
        name=DIST_NAME,
        version=str(project.get("version", "0")),
        summary=str(project.get("description", SUMMARY)),
        requires_python=str(project.get("requires-python", REQUIRES_PYTHON)),
        tag=WHEEL_TAG,
    )


def _package_dir(source: RuntimeSource) -> Path:
    return source.path if source.kind == "installed" else source.path / PACKAGE


def find_runtime_source() -> RuntimeSource:
    """Locate the runtime sources (see the module docstring for the order)."""
    override = os.environ.get(SOURCE_ENV)
    if override:
        folder = Path(override).resolve()
        if not (folder / "pyproject.toml").is_file():
            raise RuntimeBuildError(f"{SOURCE_ENV}={override}: no pyproject.toml there")
        return RuntimeSource("env", folder, _project_version(folder / "pyproject.toml"))
    checkout = _checkout_root() / "runtime"
    if (checkout / "pyproject.toml").is_file() and (checkout / PACKAGE / "__init__.py").is_file():
        return RuntimeSource("checkout", checkout, _project_version(checkout / "pyproject.toml"))
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeBuildError(
            f"cannot find the {PACKAGE} sources: no checkout and the package is not installed"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations))).resolve()
    try:
        version = importlib.metadata.version(DIST_NAME)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeBuildError(
            f"{PACKAGE} is importable but {DIST_NAME} has no installed metadata"
        ) from None
    return RuntimeSource("installed", package_dir, version)


def read_wheel(path: Path) -> WheelInfo:
    """Read a wheel's name, version, tags, declared requirements and modules (no checks)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            dist_info = sorted(
                {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
            )
            if len(dist_info) != 1:
                raise RuntimeBuildError(f"{path.name}: expected one .dist-info folder, found {dist_info}")
            metadata = email.parser.Parser().parsestr(zf.read(f"{dist_info[0]}/METADATA").decode("utf-8"))
            wheel_meta = email.parser.Parser().parsestr(zf.read(f"{dist_info[0]}/WHEEL").decode("utf-8"))
    except (zipfile.BadZipFile, KeyError) as exc:
        raise RuntimeBuildError(f"{path}: not a valid wheel ({exc})") from None
    return WheelInfo(
        path=path,
        name=metadata.get("Name", ""),
        version=metadata.get("Version", ""),
        tags=tuple(wheel_meta.get_all("Tag") or ()),
        requires=tuple(metadata.get_all("Requires-Dist") or ()),
        modules=tuple(sorted(n for n in names if n.endswith(".py"))),
    )


def check_wheel(info: WheelInfo, expected_modules: set[str] | None = None) -> WheelInfo:
    """Raise unless the wheel is the runtime, pure Python (``py3-none-any``), dependency-free and complete."""
    problems = []
    if info.name.replace("_", "-").lower() != DIST_NAME:
        problems.append(f"distribution is {info.name!r}, not {DIST_NAME!r}")
    if info.tags != (WHEEL_TAG,) or not info.path.name.endswith(f"-{WHEEL_TAG}.whl"):
        problems.append(f"tags {list(info.tags)} (file {info.path.name}); Fabric needs exactly {WHEEL_TAG}")
    if info.requires:
        problems.append(
            f"declares dependencies {list(info.requires)}; Fabric's Spark runtime must provide everything"
        )
    if expected_modules is not None:
        missing = sorted(expected_modules - set(info.modules))
        if missing:
            problems.append(f"missing modules {missing}")
    if problems:
        raise RuntimeBuildError(f"runtime wheel {info.path.name} rejected: " + "; ".join(problems))
    return info


def default_out_dir(project_dir: Path) -> Path:
    """``dist/`` in the project around ``project_dir``, or in ``project_dir`` when there is no project."""
    from .project import find_root

    try:
        return find_root(project_dir) / "dist"
    except ConfigError:
        return project_dir / "dist"


def build_runtime_wheel(out_dir: Path, source: RuntimeSource | None = None) -> WheelInfo:
    """Build the runtime wheel into ``out_dir`` (replacing an older build of the same name) and check it."""
    source = source or find_runtime_source()
    sources = package_sources(_package_dir(source))  # read once: what is written is what is checked
    if f"{PACKAGE}/__init__.py" not in sources:
        raise RuntimeBuildError(f"{_package_dir(source)} holds no {PACKAGE}/__init__.py")
    with tempfile.TemporaryDirectory(prefix="fabgen-wheel-", dir=_mkdir(out_dir)) as scratch:
        built = write_wheel(distribution(source), sources, Path(scratch))
        check_wheel(read_wheel(built), set(sources))
        target = out_dir / built.name
        os.replace(built, target)  # same folder: a reader sees the old wheel or the new one, whole
    log.debug("runtime wheel from %s -> %s", source.describe(), target)
    return check_wheel(read_wheel(target), set(sources))


CACHE_ENV = "FABGEN_WHEEL_CACHE"
_BUILDER = "fabgen.wheel_build/1"  # in the cache key: a wheel from another builder is rebuilt


def wheel_cache() -> Path:
    """Where :func:`cached_runtime_wheel` keeps built wheels (``FABGEN_WHEEL_CACHE``)."""
    default = Path.home() / ".cache" / "fabgen" / "wheels"
    return Path(os.environ.get(CACHE_ENV) or default)


def source_digest(source: RuntimeSource) -> str:
    """A digest of the runtime's sources (file names and bytes, caches skipped) and its version."""
    import hashlib

    digest = hashlib.sha256(f"{_BUILDER}\0{source.kind}\0{source.version}\0".encode())
    for path in sorted(source.path.rglob("*")):
        relative = path.relative_to(source.path)
        if (
            path.is_dir()
            or any(
                part in ("__pycache__", "build", "dist") or part.endswith(".egg-info")
                for part in relative.parts
            )
            or path.suffix in (".pyc", ".pyo")
        ):
            continue
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def cached_runtime_wheel(source: RuntimeSource | None = None) -> WheelInfo:
    """The runtime wheel for the current sources, built once per source digest and kept in the cache.

    ``fabgen render`` puts the wheel into the Environment item on every render; the build is
    reproducible, so a wheel built from the same sources is the same wheel.
    """
    source = source or find_runtime_source()
    folder = wheel_cache() / source_digest(source)
    found = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if len(found) == 1:
        return check_wheel(read_wheel(found[0]))
    with tempfile.TemporaryDirectory(prefix="fabgen-wheel-cache-", dir=_mkdir(wheel_cache())) as scratch:
        built = build_runtime_wheel(Path(scratch), source)
        try:
            Path(scratch).rename(folder)  # atomic: a concurrent render sees a complete folder or none
        except OSError:
            if not any(folder.glob("*.whl")):
                raise
        else:
            Path(scratch).mkdir()  # TemporaryDirectory removes it again
    return check_wheel(read_wheel(folder / built.path.name))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def wheel_payload(data: bytes) -> dict[str, bytes]:
    """A wheel's entries minus those naming the build tool (``WHEEL``, ``RECORD``): what it installs.

    Two builds of the same sources with different setuptools versions have the same payload.
    """
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {
            name: zf.read(name)
            for name in zf.namelist()
            if not name.endswith((".dist-info/WHEEL", ".dist-info/RECORD"))
        }
