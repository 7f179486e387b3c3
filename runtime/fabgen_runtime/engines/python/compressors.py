"""zstd and brotli for the Python engine's csv/json, from what a Fabric Python notebook has.

Fabric's default Python kernel (``python3.12``) preinstalls pyarrow and ``brotlicffi`` but neither
``zstandard`` nor ``brotli`` (docs/runtimes.md, "Python notebooks: preinstalled libraries"), so:

* **zstd** goes through pyarrow's codec (libzstd) at the configured level (1-22, default 3). Every
  chunk becomes one complete frame: a chunk of one data file is compressed on the writer's thread
  pool like a gzip member (:func:`frame_packer`), and a stream (a tar of split parts) is cut into
  frames of at most :data:`FRAME_BYTES` of input (:class:`ZstdFrames`). Frames concatenate: the
  file is one valid zstd file (``zstd -t``, ``zstd -d``, ``zstandard`` reading across frames),
  as the Spark engine's (one frame per range) is.
* **brotli** is one stream (brotli streams cannot be joined), from the first of the ``brotli`` or
  ``brotlicffi`` packages (the same ``Compressor(quality=...)`` API over Google's library) at the
  configured quality (0-11, default 5). Without either, pyarrow's brotli stream, which always
  writes Arrow's default quality (:func:`pyarrow_brotli_level`, 8): any other level is then refused
  with a ``CompressionError`` before a file is written.

Memory stays bounded: a zstd stream holds at most one frame's input, brotli compresses as the
bytes arrive.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Protocol

import pyarrow as pa

from ... import compression
from ...errors import CompressionError

#: the packages tried, in order, for a brotli stream at the configured quality
BROTLI_MODULES: tuple[str, ...] = ("brotli", "brotlicffi")
#: input bytes per zstd frame of a stream (a tar of split parts)
FRAME_BYTES = 8 * 1024 * 1024
ZSTD_DEFAULT_LEVEL = compression.get("zstd").default_level or 3
BROTLI_DEFAULT_LEVEL = compression.get("brotli").default_level or 5


class Sink(Protocol):
    """The raw file a compressor writes into (``open(..., "xb")`` or :class:`.sinks.Hashed`)."""

    @property
    def closed(self) -> bool: ...

    def write(self, data: bytes) -> Any: ...

    def close(self) -> None: ...


def zstd_codec(level: int | None) -> pa.Codec:
    """pyarrow's zstd codec at ``level`` (the codec's default when None)."""
    return pa.Codec("zstd", compression_level=ZSTD_DEFAULT_LEVEL if level is None else level)


def frame_packer(level: int | None) -> Callable[[bytes], bytes]:
    """A function compressing one chunk into one complete zstd frame at ``level`` (thread-safe:
    a codec per call, and libzstd runs without the GIL)."""
    chosen = ZSTD_DEFAULT_LEVEL if level is None else level

    def pack(data: bytes) -> bytes:
        return bytes(zstd_codec(chosen).compress(data, asbytes=True))

    return pack


class ZstdFrames:
    """A zstd file written as frames of at most ``frame_bytes`` of input each."""

    def __init__(self, raw: Sink, level: int | None, frame_bytes: int = FRAME_BYTES):
        self.raw, self.pack, self.frame_bytes = raw, frame_packer(level), frame_bytes
        self.buffer = bytearray()
        self.frames = 0

    def write(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= self.frame_bytes:
            self._emit(bytes(self.buffer[: self.frame_bytes]))
            del self.buffer[: self.frame_bytes]

    def _emit(self, data: bytes) -> None:
        self.raw.write(self.pack(data))
        self.frames += 1

    def close(self) -> None:
        """Write the last frame (an empty one when nothing was written: still a valid zstd file)."""
        try:
            if self.buffer or not self.frames:
                self._emit(bytes(self.buffer))
            self.buffer = bytearray()
        finally:
            self.raw.close()


def pyarrow_brotli_level() -> int:
    """The quality pyarrow's brotli stream writes (Arrow's default: it takes no level)."""
    return int(pa.Codec.default_compression_level("brotli"))


def brotli_module(modules: Sequence[str] | None = None) -> ModuleType | None:
    """The first of ``modules`` (default :data:`BROTLI_MODULES`) that imports, or None."""
    for name in BROTLI_MODULES if modules is None else modules:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def check_brotli(level: int | None, export: str, modules: Sequence[str] | None = None) -> None:
    """Raise ``CompressionError`` unless a brotli stream at ``level`` can be written here."""
    if brotli_module(modules) is not None:
        return
    chosen = BROTLI_DEFAULT_LEVEL if level is None else level
    if chosen != pyarrow_brotli_level():
        raise CompressionError(
            f"brotli compression at level {chosen} needs the Python package 'brotli' or 'brotlicffi' "
            f"(Fabric's python3.12 kernel has brotlicffi); pyarrow's brotli stream writes level "
            f"{pyarrow_brotli_level()} only: install one of them or set compression_level: "
            f"{pyarrow_brotli_level()}",
            export,
        )


def check_available(codec: compression.Codec, file_format: str, level: int | None, export: str) -> None:
    """What :meth:`fabgen_runtime.compression.Codec.check_available` checks, for this engine's
    compressors: csv/json brotli and zstd as above; parquet codecs are pyarrow's own."""
    if file_format != "parquet" and codec.name == "brotli":
        check_brotli(level, export)
        return
    codec.check_available(None, file_format, export)
    if file_format != "parquet" and codec.name == "zstd" and not pa.Codec.is_available("zstd"):
        raise CompressionError("zstd compression needs pyarrow's zstd codec; this pyarrow lacks it", export)


class _ModuleBrotli:
    """One brotli stream from a ``brotli``-compatible module (``brotli`` or ``brotlicffi``)."""

    def __init__(self, raw: Sink, module: ModuleType, level: int):
        self.raw, self.compressor = raw, module.Compressor(quality=level)

    def write(self, data: bytes) -> None:
        out = self.compressor.process(data)
        if out:
            self.raw.write(out)

    def close(self) -> None:
        try:
            self.raw.write(self.compressor.finish())
        finally:
            self.raw.close()


class Layered:
    """A compressing writer over a raw sink; closing closes both, in order."""

    def __init__(self, outer: Any, raw: Sink):
        self.outer, self.raw = outer, raw

    def write(self, data: bytes) -> None:
        self.outer.write(data)

    def close(self) -> None:
        try:
            self.outer.close()
        finally:
            if not self.raw.closed:
                self.raw.close()


class _ArrowBrotli(Layered):
    """One brotli stream from pyarrow (Arrow's default quality); closing it closes ``raw``."""

    def __init__(self, raw: Sink):
        super().__init__(pa.CompressedOutputStream(raw, "brotli"), raw)


def brotli_stream(
    raw: Sink, level: int | None, export: str, modules: Sequence[str] | None = None
) -> _ModuleBrotli | _ArrowBrotli:
    """One brotli stream into ``raw`` at ``level`` (closed with it), from the first backend there is."""
    chosen = BROTLI_DEFAULT_LEVEL if level is None else level
    module = brotli_module(modules)
    if module is not None:
        return _ModuleBrotli(raw, module, chosen)
    check_brotli(chosen, export, modules)
    return _ArrowBrotli(raw)
