"""``notebookutils.fs`` over local folders: OneLake URIs map to ``FABRIC_STANDIN_ONELAKE``.

Signatures as Microsoft documents them (notebook-utilities, "File system utilities"):
``ls(dir)``, ``mkdirs(path)``, ``cp(src, dest, recurse=False)``, ``mv(src, dest, create_path=False,
overwrite=False)``, ``rm(path, recurse=False)``, ``exists(path)``, ``put(file, content, overwrite=False)``,
``head(file, max_bytes)``. ``ls`` returns FileInfo objects with ``name``, ``path``, ``size``,
``isDir``, ``isFile``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

_ONELAKE = re.compile(r"^abfss://([^@/]+)@onelake\.dfs\.fabric\.microsoft\.com/(.*)$")


@dataclass(frozen=True)
class FileInfo:
    """What ``ls`` returns per entry."""

    name: str
    path: str
    size: int
    isDir: bool
    isFile: bool


def local(path: str) -> Path:
    """The local path behind ``path`` (an abfss OneLake URI, ``file:`` URI or a local path)."""
    match = _ONELAKE.match(path)
    if match:
        root = os.environ.get("FABRIC_STANDIN_ONELAKE")
        if not root:
            raise OSError("FABRIC_STANDIN_ONELAKE is not set: the stand-in has no OneLake folder")
        return Path(root) / match.group(1) / match.group(2)
    if path.startswith("file:"):
        return Path(re.sub(r"^file:(//)?", "", path))
    if "://" in path:
        raise OSError(f"the stand-in cannot reach {path}")
    return Path(path)


def ls(dir: str) -> list[FileInfo]:
    folder = local(dir)
    return [
        FileInfo(
            p.name,
            f"{dir.rstrip('/')}/{p.name}",
            p.stat().st_size if p.is_file() else 0,
            p.is_dir(),
            p.is_file(),
        )
        for p in sorted(folder.iterdir())
    ]


def mkdirs(path: str) -> bool:
    local(path).mkdir(parents=True, exist_ok=True)
    return True


def exists(path: str) -> bool:
    return local(path).exists()


def cp(src: str, dest: str, recurse: bool = False) -> bool:
    source, target = local(src), local(dest)
    if source.is_dir():
        if not recurse:
            raise OSError(f"{src} is a folder: cp needs recurse=True")
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copyfile(source, target)
    return True


def mv(src: str, dest: str, create_path: bool = False, overwrite: bool = False) -> bool:
    source, target = local(src), local(dest)
    if not source.exists():
        raise FileNotFoundError(src)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{dest} exists and overwrite is False")
    if create_path:
        target.parent.mkdir(parents=True, exist_ok=True)
    elif not target.parent.is_dir():
        raise FileNotFoundError(f"{target.parent} does not exist and create_path is False")
    if not overwrite and source.is_file():
        # Never replaces a destination that appeared since the check above (renames racing onto one
        # name: one wins), as OneLake refuses an existing one (ABFS: If-None-Match: *).
        _move_noreplace(source, target, dest)
        return True
    os.replace(source, target)
    return True


def _move_noreplace(source: Path, target: Path, dest: str) -> None:
    """``renameat2(RENAME_NOREPLACE)`` (one atomic step), else a hard link then an unlink."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        if renameat2(-100, os.fsencode(source), -100, os.fsencode(target), 1) == 0:  # AT_FDCWD, NOREPLACE
            return
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise FileExistsError(f"{dest} exists and overwrite is False")
        if code not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), dest)
    try:
        os.link(source, target)
    except FileExistsError:
        raise FileExistsError(f"{dest} exists and overwrite is False") from None
    os.unlink(source)


def rm(path: str, recurse: bool = False) -> bool:
    target = local(path)
    if target.is_dir():
        if not recurse:
            raise OSError(f"{path} is a folder: rm needs recurse=True")
        shutil.rmtree(target)
    else:
        target.unlink()
    return True


def put(file: str, content: str, overwrite: bool = False) -> bool:
    target = local(file)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{file} exists and overwrite is False")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8")
    return True


def head(file: str, max_bytes: int = 65536) -> str:
    with open(local(file), "rb") as handle:
        return handle.read(max_bytes).decode("utf-8", errors="replace")
