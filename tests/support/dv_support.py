"""Deletion vectors built from the Delta protocol's format, for tests that need no JVM.

An encoder written from the specs (Delta PROTOCOL.md "Deletion Vector Format" and "Deletion Vector
File Storage Format"; RoaringFormatSpec for the 32-bit bitmaps and the portable 64-bit extension),
independent of the runtime's decoder: Z85, the portable RoaringTreemap with array, bitmap and run
containers (run where it is smaller, as Roaring's ``runOptimize`` picks), DV files of several DVs
with big-endian sizes and CRC-32s, and a commit that gives a delta-rs-written table deletion
vectors (protocol 3/7, ``remove`` + ``add`` with the ``deletionVector`` descriptor).
"""

from __future__ import annotations

import json
import struct
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
MAGIC = 1681511377


def z85_encode(data: bytes) -> str:
    """Z85 of ``data`` zero-padded to a multiple of 4 bytes (as Delta's Base85Codec pads)."""
    padded = data + b"\0" * (-len(data) % 4)
    out = []
    for i in range(0, len(padded), 4):
        value = int.from_bytes(padded[i : i + 4], "big")
        chars = []
        for _ in range(5):
            value, digit = divmod(value, 85)
            chars.append(Z85[digit])
        out.append("".join(reversed(chars)))
    return "".join(out)


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and runs[-1][0] + runs[-1][1] == v:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((v, 1))
    return runs


def _container(values: list[int], allow_runs: bool) -> tuple[str, bytes]:
    runs = _runs(values)
    plain = 2 * len(values) if len(values) <= 4096 else 8192
    if allow_runs and 2 + 4 * len(runs) < plain:
        return "run", struct.pack("<H", len(runs)) + b"".join(struct.pack("<HH", s, n - 1) for s, n in runs)
    if len(values) <= 4096:
        return "array", struct.pack(f"<{len(values)}H", *values)
    words = [0] * 1024
    for v in values:
        words[v >> 6] |= 1 << (v & 63)
    return "bitmap", struct.pack("<1024Q", *words)


def bitmap32(values: list[int], allow_runs: bool = True, kinds: list[str] | None = None) -> bytes:
    """A 32-bit Roaring bitmap (standard serialization) of ascending ``values``."""
    groups: dict[int, list[int]] = {}
    for v in values:
        groups.setdefault(v >> 16, []).append(v & 0xFFFF)
    containers = [(key, len(low), *_container(low, allow_runs)) for key, low in sorted(groups.items())]
    if kinds is not None:
        kinds += [kind for _, _, kind, _ in containers]
    count = len(containers)
    has_runs = any(kind == "run" for _, _, kind, _ in containers)
    if has_runs:
        flags = bytearray((count + 7) // 8)
        for i, (_, _, kind, _) in enumerate(containers):
            if kind == "run":
                flags[i // 8] |= 1 << (i % 8)
        head = struct.pack("<I", 12347 | ((count - 1) << 16)) + bytes(flags)
    else:
        head = struct.pack("<II", 12346, count)
    head += b"".join(struct.pack("<HH", key, n - 1) for key, n, _, _ in containers)
    with_offsets = not has_runs or count >= 4
    position = len(head) + (4 * count if with_offsets else 0)
    offsets = b""
    for _, _, _, body in containers:
        offsets += struct.pack("<I", position)
        position += len(body)
    return head + (offsets if with_offsets else b"") + b"".join(body for _, _, _, body in containers)


def treemap(rows: list[int], allow_runs: bool = True, kinds: list[str] | None = None) -> bytes:
    """Delta's RoaringBitmapArray: the magic, then the portable 64-bit serialization."""
    buckets: dict[int, list[int]] = {}
    for r in sorted(set(rows)):
        buckets.setdefault(r >> 32, []).append(r & 0xFFFFFFFF)
    out = struct.pack("<IQ", MAGIC, len(buckets))
    for high, low in sorted(buckets.items()):
        out += struct.pack("<I", high) + bitmap32(low, allow_runs, kinds)
    return out


def dv_file(bitmaps: list[bytes]) -> tuple[bytes, list[int]]:
    """A DV file holding ``bitmaps`` and each one's offset."""
    data, offsets = bytearray([1]), []
    for bitmap in bitmaps:
        offsets.append(len(data))
        data += struct.pack(">i", len(bitmap)) + bitmap + struct.pack(">I", zlib.crc32(bitmap))
    return bytes(data), offsets


def stored_descriptor(table: Path, bitmap: bytes, cardinality: int, prefix: str = "") -> dict[str, Any]:
    """Write a one-DV file into the table folder (``u`` storage); its descriptor."""
    dv_id = uuid.uuid4()
    folder = table / prefix if prefix else table
    folder.mkdir(parents=True, exist_ok=True)
    data, (offset,) = dv_file([bitmap])
    (folder / f"deletion_vector_{dv_id}.bin").write_bytes(data)
    return {
        "storageType": "u",
        "pathOrInlineDv": prefix + z85_encode(dv_id.bytes),
        "offset": offset,
        "sizeInBytes": len(bitmap),
        "cardinality": cardinality,
    }


def inline_descriptor(bitmap: bytes, cardinality: int) -> dict[str, Any]:
    return {
        "storageType": "i",
        "pathOrInlineDv": z85_encode(bitmap),
        "sizeInBytes": len(bitmap),
        "cardinality": cardinality,
    }


def _adds(table: Path) -> dict[str, dict[str, Any]]:
    """The live ``add`` actions of a delta-rs-written table (JSON commits only), by path."""
    live: dict[str, dict[str, Any]] = {}
    for commit in sorted((table / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                live[action["add"]["path"]] = action["add"]
            if "remove" in action:
                live.pop(action["remove"]["path"], None)
    return live


def delete_rows(table: Path, deletions: dict[str, list[int]], inline: bool = False) -> dict[str, dict]:
    """Commit deletion vectors: ``deletions`` maps a data file path (as in the log) to row indexes.

    Upgrades the protocol to reader 3 / writer 7 with ``deletionVectors`` and writes, per file, the
    new ``add`` (with its DV) before the ``remove`` of the old one, as Spark orders them.
    """
    adds = _adds(table)
    log = table / "_delta_log"
    version = max(int(p.stem) for p in log.glob("*.json")) + 1
    protocol = {"minReaderVersion": 3, "minWriterVersion": 7}
    protocol |= {"readerFeatures": ["deletionVectors"], "writerFeatures": ["deletionVectors"]}
    lines = [{"protocol": protocol}]
    descriptors = {}
    for path, rows in deletions.items():
        bitmap = treemap(rows)
        dv = (
            inline_descriptor(bitmap, len(set(rows)))
            if inline
            else stored_descriptor(table, bitmap, len(set(rows)))
        )
        old = adds[path]
        lines.append({"add": {**old, "deletionVector": dv, "dataChange": True}})
        remove = {"path": path, "deletionTimestamp": int(time.time() * 1000), "dataChange": True}
        if old.get("deletionVector"):
            remove["deletionVector"] = old["deletionVector"]
        lines.append({"remove": remove})
        descriptors[path] = dv
    (log / f"{version:020d}.json").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return descriptors
