"""The self-test's file checks: OneLake renames, ``notebookutils.fs``, writable ``Files/``, clean-up.

Each check runs over :class:`FileOps`, the few calls it needs from the store the engine uses:
Hadoop's ``FileSystem`` in Spark (:class:`fabgen_runtime.engines.spark.selftest.HadoopOps`) and
``notebookutils.fs`` in Python notebooks (:class:`NotebookFsOps`). ``rename`` is the store's own
rename, without the existence check :class:`~fabgen_runtime.engines.spark.fs.HadoopFS` and
:class:`~fabgen_runtime.engines.python.onelake.NotebookFileStore` put in front of it, since that check
cannot close a race: what refuses an existing destination must be the store itself.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from ..protocol.store import join
from .model import Row, outcome

RACERS = 4  # renames racing onto one destination
PAYLOAD_LINES = 2048  # lines of the renamed file (about 64 KiB)
HEAD_LIMIT = 16 * 1024 * 1024


class FileOps(Protocol):
    """The file calls the checks make; URIs are OneLake URIs (or local paths in tests)."""

    name: str  # what the rows call the store, e.g. "Hadoop FileSystem (AzureBlobFileSystem)"

    def put(self, uri: str, text: str) -> None:
        """Create or replace a small text file (its parent created)."""
        ...

    def read(self, uri: str) -> str:
        """The text of a small file."""
        ...

    def exists(self, uri: str) -> bool:
        """True when something exists at ``uri``."""
        ...

    def rename(self, src: str, dst: str) -> bool:
        """The store's own rename (no check before it): True when moved, False when refused; an
        exception is a refusal too."""
        ...

    def remove(self, uri: str) -> None:
        """Delete ``uri`` and everything under it."""
        ...

    def names(self, uri: str) -> list[str]:
        """The names directly under the folder ``uri``."""
        ...


class NotebookFsOps:
    """:class:`FileOps` over ``notebookutils.fs`` (a Fabric Python notebook's file store)."""

    def __init__(self, fs: Any):
        self.fs = fs
        self.name = "notebookutils.fs"

    def put(self, uri: str, text: str) -> None:
        """``put(uri, text, overwrite=True)``."""
        self.fs.put(uri, text, True)

    def read(self, uri: str) -> str:
        """``head(uri, 16 MiB)``."""
        return str(self.fs.head(uri, HEAD_LIMIT))

    def exists(self, uri: str) -> bool:
        """``exists(uri)``."""
        return bool(self.fs.exists(uri))

    def rename(self, src: str, dst: str) -> bool:
        """``mv(src, dst, create_path=True, overwrite=False)``, as the runtime calls it."""
        return self.fs.mv(src, dst, True, False) is not False

    def remove(self, uri: str) -> None:
        """``rm(uri, recurse=True)``."""
        self.fs.rm(uri, True)

    def names(self, uri: str) -> list[str]:
        """``ls(uri)``'s names (a folder's without a trailing ``/``)."""
        return [str(entry.name).rstrip("/") for entry in self.fs.ls(uri)]


def _payload(tag: str) -> str:
    return "".join(
        f"{tag} line {n:05d} of the fabgen self-test's rename check\n" for n in range(PAYLOAD_LINES)
    )


def _attempt(ops: FileOps, src: str, dst: str) -> tuple[bool, str]:
    """``(moved, how)``: the rename's result, an exception counted as a refusal."""
    try:
        moved = ops.rename(src, dst)
    except Exception as exc:  # a store refusing by raising (notebookutils, ABFS)
        return False, f"raised {type(exc).__name__}"
    return moved, "returned True" if moved else "returned False"


def check_rename(ops: FileOps, scratch: str) -> Row:
    """``onelake_rename``: onto an existing file (refused, untouched), to a new name (whole, source
    gone), and :data:`RACERS` renames racing onto one name (one winner, the losers' sources intact)."""
    folder = join(scratch, "rename")
    existing, source, fresh = (
        join(folder, "existing.txt"),
        join(folder, "source.txt"),
        join(folder, "moved.txt"),
    )
    ops.put(existing, _payload("existing"))
    ops.put(source, _payload("source"))
    problems: list[str] = []
    moved, how = _attempt(ops, source, existing)
    if moved or ops.read(existing) != _payload("existing"):
        problems.append(f"a rename onto an existing file replaced it ({how})")
    if not ops.exists(source):
        problems.append(f"the source of the refused rename is gone ({how})")
    seen = [f"{ops.name}: onto an existing file: refused ({how}), destination untouched"]
    if not problems:
        moved, fresh_how = _attempt(ops, source, fresh)
        if not moved:
            problems.append(f"a rename to a new name failed ({fresh_how})")
        elif ops.read(fresh) != _payload("source") or ops.exists(source):
            problems.append(
                "a rename to a new name did not move the whole file (content differs or source left)"
            )
        else:
            seen.append(f"to a new name: moved whole ({len(_payload('source'))} bytes), source gone")
    race = _race(ops, folder)
    problems += race[1]
    seen.append(race[0])
    if problems:
        return outcome("onelake_rename", False, f"{ops.name}: " + "; ".join(problems))
    return outcome("onelake_rename", True, "; ".join(seen))


def _race(ops: FileOps, folder: str) -> tuple[str, list[str]]:
    """:data:`RACERS` renames started together onto one destination: ``(seen, problems)``."""
    target = join(folder, "raced.txt")
    sources = {join(folder, f"racer-{n}.txt"): _payload(f"racer-{n}") for n in range(RACERS)}
    for uri, text in sources.items():
        ops.put(uri, text)
    start = threading.Barrier(RACERS)

    def race(src: str) -> tuple[str, bool]:
        start.wait(timeout=60)
        return src, _attempt(ops, src, target)[0]

    with ThreadPoolExecutor(RACERS, thread_name_prefix="fabgen-selftest-rename") as pool:
        results = dict(pool.map(race, sources))
    winners = [src for src, moved in results.items() if moved]
    problems = []
    if len(winners) != 1:
        problems.append(f"{RACERS} renames racing onto one name: {len(winners)} reported success")
    landed = ops.read(target) if ops.exists(target) else None
    if landed not in [sources[w] for w in winners]:
        problems.append("the raced destination does not hold a winner's bytes")
    lost = [
        src
        for src in sources
        if src not in winners and (not ops.exists(src) or ops.read(src) != sources[src])
    ]
    if lost:
        problems.append(f"{len(lost)} losing source(s) were moved or changed")
    seen = f"{RACERS} renames racing onto one name: {len(winners)} won, {RACERS - len(winners)} refused"
    return seen, problems


def short(uri: str) -> str:
    """``uri`` from its ``Files/`` on (the rows name the lakehouse already)."""
    _, found, rest = uri.partition("/Files/")
    return f"Files/{rest}" if found else uri


def check_files_writable(ops: FileOps, lakehouse: str, scratch: str) -> Row:
    """``files_writable`` for one lakehouse: a file written under ``scratch``, read back, removed."""
    probe = join(scratch, "writable.txt")
    text = f"fabgen self-test: {lakehouse} is writable\n"
    ops.put(probe, text)
    back = ops.read(probe)
    ops.remove(scratch)
    if back != text:
        return outcome(
            "files_writable", False, f"{short(probe)} read back other text than was written", lakehouse
        )
    if ops.exists(probe):
        return outcome(
            "files_writable", False, f"{short(probe)} is still there after it was removed", lakehouse
        )
    return outcome("files_writable", True, f"{short(probe)}: written, read back and removed", lakehouse)


def remove_scratch(ops: FileOps, scratch: str) -> None:
    """Remove ``scratch`` and, when nothing else is left in it, its parent (``_fabgen_selftest``)."""
    if ops.exists(scratch):
        ops.remove(scratch)
    parent = scratch.rstrip("/").rpartition("/")[0]
    if parent and ops.exists(parent) and not ops.names(parent):
        ops.remove(parent)


def check_scratch_removed(ops: FileOps, scratch: str) -> Row:
    """``scratch_removed``: after :func:`remove_scratch`, the scratch folder is gone."""
    remove_scratch(ops, scratch)
    if ops.exists(scratch):
        return outcome("scratch_removed", False, f"{short(scratch)} is still there after a recursive delete")
    return outcome("scratch_removed", True, f"{short(scratch)} of the config lakehouse removed")


# --------------------------------------------------------------------------- notebookutils.fs


JOURNAL = 'journal {"export": "caf\u00e9 \u00fcber", "n": 1}\nsecond line\n'  # UTF-8, 2 bytes per accent


@dataclass(frozen=True)
class _Probe:
    """Where the ``notebookutils_fs`` steps work, and with which ``notebookutils.fs``."""

    fs: Any
    folder: str

    @property
    def file(self) -> str:
        return join(self.folder, "journal.json")

    @property
    def sub(self) -> str:
        return join(self.folder, "sub")


def _exists(p: _Probe) -> str | None:
    return "exists() of a missing path is true" if p.fs.exists(join(p.folder, "missing")) else None


def _mkdirs(p: _Probe) -> str | None:
    return "mkdirs() made no folder" if p.fs.mkdirs(p.sub) is False or not p.fs.exists(p.sub) else None


def _put(p: _Probe) -> str | None:
    return (
        "put() wrote no file"
        if p.fs.put(p.file, JOURNAL, False) is False or not p.fs.exists(p.file)
        else None
    )


def _head(p: _Probe) -> str | None:
    return (
        "head() gave back other text than put() wrote"
        if str(p.fs.head(p.file, HEAD_LIMIT)) != JOURNAL
        else None
    )


def _overwrite(p: _Probe) -> str | None:
    p.fs.put(p.file, "replaced\n", True)
    if str(p.fs.head(p.file, HEAD_LIMIT)) != "replaced\n":
        return "put(overwrite=True) did not replace the file"
    p.fs.put(p.file, JOURNAL, True)
    return None


def _listing(p: _Probe) -> str | None:
    entries = {str(e.name).rstrip("/"): e for e in p.fs.ls(p.folder)}
    if set(entries) != {"journal.json", "sub"}:
        return f"ls() names {sorted(entries)}, expected ['journal.json', 'sub']"
    file, sub, size = entries["journal.json"], entries["sub"], len(JOURNAL.encode("utf-8"))
    if int(file.size) != size:
        return f"ls() gives the file {file.size} bytes, it holds {size} (UTF-8)"
    return "ls() isDir is wrong" if not sub.isDir or file.isDir else None


def _copy_out(p: _Probe) -> str | None:
    with tempfile.TemporaryDirectory(prefix="fabgen-selftest-") as local:
        target = os.path.join(local, "copy")
        p.fs.cp(p.file, f"file:{target}")
        with open(target, "rb") as handle:
            copied = handle.read()
    return None if copied == JOURNAL.encode("utf-8") else "cp() to file: copied other bytes"


def _copy_in(p: _Probe) -> str | None:
    uploaded = join(p.folder, "uploaded.json")
    with tempfile.TemporaryDirectory(prefix="fabgen-selftest-") as local:
        source = os.path.join(local, "upload")
        with open(source, "wb") as handle:
            handle.write(JOURNAL.encode("utf-8"))
        p.fs.cp(f"file:{source}", uploaded)
    return None if str(p.fs.head(uploaded, HEAD_LIMIT)) == JOURNAL else "cp() from file: copied other bytes"


def _rm(p: _Probe) -> str | None:
    return "rm() left the file" if p.fs.rm(p.file, False) is False or p.fs.exists(p.file) else None


def _rm_recurse(p: _Probe) -> str | None:
    gone = p.fs.rm(p.folder, True) is not False and not p.fs.exists(p.folder)
    return None if gone else "rm(recurse=True) left the folder"


NOTEBOOKUTILS_STEPS: tuple[tuple[str, Callable[[_Probe], str | None]], ...] = (
    ("exists", _exists),
    ("mkdirs", _mkdirs),
    ("put", _put),
    ("head", _head),
    ("put overwrite", _overwrite),
    ("ls", _listing),
    ("cp to file:", _copy_out),
    ("cp from file:", _copy_in),
    ("rm", _rm),
    ("rm recurse", _rm_recurse),
)


def check_notebookutils_fs(fs: Any, scratch: str) -> Row:
    """``notebookutils_fs``: each call :class:`~fabgen_runtime.engines.python.onelake.NotebookFileStore`
    makes, in :data:`NOTEBOOKUTILS_STEPS` order, with the result it expects."""
    probe = _Probe(fs, join(scratch, "notebookutils"))
    for name, step in NOTEBOOKUTILS_STEPS:
        try:
            problem = step(probe)
        except Exception as exc:  # a call that raises where fabgen expects a result
            problem = f"raised {type(exc).__name__}: {exc}"
        if problem:
            return outcome("notebookutils_fs", False, f"{name}: {problem}")
    names = ", ".join(name for name, _ in NOTEBOOKUTILS_STEPS)
    size = len(JOURNAL.encode("utf-8"))
    return outcome("notebookutils_fs", True, f"{names}: as assumed ({size} bytes of UTF-8 text)")
