"""Compression codecs by name (``none``, ``gzip``, ``zip``/``zipdeflate``, ``brotli``, ``zstd``,
``snappy``, ``lz4``), for csv/json outputs and embedded in parquet.

How each one is produced (see ``docs/output-files.md``):

* ``gzip`` csv/json: Spark compresses inside its tasks (Hadoop's gzip codec at the configured
  level); the parts are gzip members and are joined by a byte copy, after a member holding the
  CSV header. Where Hadoop's codec cannot take the level
  (:func:`fabgen_runtime.engines.spark.codecs.hadoop_gzip_honours_level`: Hadoop 3.3 without
  native zlib, as Spark 3.5 / Fabric Runtime 1.3 locally) and it is not the default 6, plain
  parts are compressed into members like zstd below instead.
* ``zip``/``zipdeflate``: Spark writes plain parts; ranges of them are compressed in parallel
  driver threads inside the JVM (``java.util.zip.Deflater``, raw deflate ending with a sync
  flush), joined into one deflate stream with the CRC-32 combined, and wrapped in zip headers.
* ``zstd``: like zip, with zstd-jni (bundled with Spark) writing one frame per range; frames
  concatenate.
* ``brotli``: brotli streams do not concatenate, so one Python ``brotli`` compressor runs over
  the parts in order (slow; the ``brotli`` package must be installed where the driver runs).
* parquet: the codec is embedded by Spark's parquet writer (``snappy``, ``lz4`` (LZ4_RAW),
  ``gzip``, ``zstd``, and ``brotli`` only when the cluster has a brotli Hadoop codec).

Missing optional pieces raise :class:`~fabgen_runtime.errors.CompressionError` before any data is
written.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import CompressionError
from ..registry import Registry

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..formats import FileFormat

# Hadoop's zlib level names (ZlibCompressor.CompressionLevel), by zlib level.
HADOOP_ZLIB_LEVELS = {
    0: "NO_COMPRESSION",
    1: "BEST_SPEED",
    2: "TWO",
    3: "THREE",
    4: "FOUR",
    5: "FIVE",
    6: "SIX",
    7: "SEVEN",
    8: "EIGHT",
    9: "BEST_COMPRESSION",
}


@dataclass(frozen=True)
class Codec:
    """One compression value of the config."""

    name: str
    levels: range | None  # allowed compression_level values, None when the codec takes none
    default_level: int | None
    suffix: str = ""  # extension appended to a compressed stream ("" for archives / embedded)
    archive: str | None = None  # "zip" when the output is a zip archive
    text: bool = True  # applies to csv/json
    parquet_name: str | None = None  # Spark's parquet compression value
    python_module: str | None = None  # Python package the driver needs
    jvm_class: str | None = None  # JVM class the driver needs

    def applies_to(self, fmt: FileFormat) -> bool:
        """Whether this codec can compress files of ``fmt`` (embedded in parquet, else after the write)."""
        return self.parquet_name is not None if fmt.embeds_compression else self.text

    def post_process(self, fmt: FileFormat) -> bool:
        """Whether files of ``fmt`` are compressed after the write (csv/json archives and streams)."""
        return not fmt.embeds_compression and self.text and self.name != "none"

    def level(self, requested: int | None, export: str | None = None) -> int | None:
        """The level to use: ``requested`` (checked) or the codec's default."""
        if requested is None:
            return self.default_level
        if self.levels is None or requested not in self.levels:
            allowed = f"{self.levels.start}-{self.levels.stop - 1}" if self.levels else "no level"
            raise CompressionError(
                f"compression_level {requested} is not valid for {self.name} ({allowed})", export
            )
        return requested

    def check_available(
        self, has_class: Callable[[str], bool] | None, file_format: str, export: str | None = None
    ) -> None:
        """Raise ``CompressionError`` when this runtime lacks what the codec needs for ``file_format``.

        ``has_class``: whether the engine's JVM has a class (Spark), None without a JVM."""
        if file_format == "parquet":
            if self.parquet_name is None:
                raise CompressionError(f"{self.name} does not apply to parquet", export)
            if (
                self.name == "brotli"
                and has_class is not None
                and not has_class("org.apache.hadoop.io.compress.BrotliCodec")
            ):
                raise CompressionError(
                    "brotli for parquet needs a brotli Hadoop codec on the cluster "
                    "(org.apache.hadoop.io.compress.BrotliCodec); use zstd or gzip instead",
                    export,
                )
            return
        if not self.text:
            raise CompressionError(f"{self.name} applies to parquet only, not {file_format}", export)
        if self.python_module:
            try:
                importlib.import_module(self.python_module)
            except ImportError:
                raise CompressionError(
                    f"{self.name} compression needs the Python package {self.python_module!r} where the "
                    "driver runs (add it to the Fabric environment)",
                    export,
                ) from None
        if self.jvm_class and has_class is not None and not has_class(self.jvm_class):
            raise CompressionError(f"{self.name} compression needs the JVM class {self.jvm_class}", export)

    def parquet_options(self, level: int | None) -> dict[str, str]:
        """Writer options that embed this codec (and its level) in parquet files."""
        options = {"compression": self.parquet_name or "none"}
        if level is not None and self.name == "zstd":
            options["parquet.compression.codec.zstd.level"] = str(level)
        if level is not None and self.name == "gzip":
            options["zlib.compress.level"] = HADOOP_ZLIB_LEVELS[level]
        if level is not None and self.name == "brotli":
            options["compression.brotli.quality"] = str(level)
        return options


REGISTRY: Registry[Codec] = Registry("compression", CompressionError)


def register(codec: Codec) -> Codec:
    """Add (or replace) a codec by name."""
    return REGISTRY.register(codec.name, codec)


get = REGISTRY.get
names = REGISTRY.names
known = REGISTRY.known


def import_optional(module: str, codec: str, export: str | None = None) -> Any:
    """Import an optional Python package a codec needs, or raise ``CompressionError``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CompressionError(f"{codec} compression needs the Python package {module!r}", export) from None


register(Codec("none", None, None, parquet_name="none"))
register(Codec("gzip", range(1, 10), 6, suffix=".gz", parquet_name="gzip"))
register(Codec("zip", range(0, 10), 6, archive="zip"))
register(Codec("zipdeflate", range(0, 10), 6, archive="zip"))
register(
    Codec(
        "zstd",
        range(1, 23),
        3,
        suffix=".zst",
        parquet_name="zstd",
        jvm_class="com.github.luben.zstd.ZstdOutputStream",
    )
)
register(Codec("brotli", range(0, 12), 5, suffix=".br", parquet_name="brotli", python_module="brotli"))
register(Codec("snappy", None, None, text=False, parquet_name="snappy"))
register(Codec("lz4", None, None, text=False, parquet_name="lz4_raw"))
