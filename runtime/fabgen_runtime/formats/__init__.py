"""File formats by name: the Spark writer options each format gets, with defaults that keep data intact.

``get("csv")`` returns a :class:`FileFormat`. Its :meth:`FileFormat.options` merges the format's
defaults with the user's ``file_format_options`` (the user's value wins; keys compare
case-insensitively, as Spark's do). Register more formats with :func:`register`.

Defaults (differences from Spark's own writer defaults are deliberate):

* csv: ``header=true``; ``escape`` ``"`` (a quote inside a quoted value is doubled, as RFC 4180
  and most readers expect; Spark's default writes ``\"``); ``ignoreLeadingWhiteSpace`` and
  ``ignoreTrailingWhiteSpace`` false (Spark trims by default when writing); ``timestampFormat``
  ``yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX`` and ``timestampNTZFormat`` ``yyyy-MM-dd'T'HH:mm:ss.SSSSSS``
  (Spark keeps only milliseconds); ``dateFormat`` ``yyyy-MM-dd``.
* json (JSON Lines): ``ignoreNullFields=false`` (Spark drops null fields by default), the same
  date and timestamp formats.
* parquet: Spark's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .. import writer_options
from ..errors import WriteError
from ..registry import Registry

ISO_TIMESTAMP = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"
ISO_TIMESTAMP_NTZ = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"
ISO_DATE = "yyyy-MM-dd"


@dataclass(frozen=True)
class FileFormat:
    """One output format: its Spark source name, extension and default writer options."""

    name: str
    spark_format: str
    extension: str
    defaults: Mapping[str, str] = field(default_factory=dict)
    joinable: bool = True  # parts written in parallel concatenate into one valid file
    has_header: bool = False
    embeds_compression: bool = False  # the writer compresses inside the file (parquet), none after it

    def options(self, user: Mapping[str, str], export: str | None = None) -> dict[str, str]:
        """Defaults merged with the user's options (user wins).

        Raises ``WriteError`` for options the writer does not accept (the table in
        :mod:`fabgen_runtime.writer_options`, which ``fabgen validate`` checks first).
        """
        found = writer_options.problems(self.name, user)
        if found:
            details = "; ".join(f"{key} {problem}" for key, problem in found)
            raise WriteError(f"file_format_options: {details}", export)
        lowered = {key.lower() for key in user}
        merged = {key: value for key, value in self.defaults.items() if key.lower() not in lowered}
        merged.update(user)
        return merged

    def header(self, options: Mapping[str, str]) -> bool:
        """True when these options ask for a header line (csv only)."""
        if not self.has_header:
            return False
        value = next((v for k, v in options.items() if k.lower() == "header"), "false")
        return str(value).strip().lower() == "true"


REGISTRY: Registry[FileFormat] = Registry("file format", WriteError)


def register(fmt: FileFormat) -> FileFormat:
    """Add (or replace) a format by name."""
    return REGISTRY.register(fmt.name, fmt)


get = REGISTRY.get
names = REGISTRY.names
known = REGISTRY.known


register(
    FileFormat(
        name="csv",
        spark_format="csv",
        extension="csv",
        has_header=True,
        defaults={
            "header": "true",
            "escape": '"',
            "ignoreLeadingWhiteSpace": "false",
            "ignoreTrailingWhiteSpace": "false",
            "timestampFormat": ISO_TIMESTAMP,
            "timestampNTZFormat": ISO_TIMESTAMP_NTZ,
            "dateFormat": ISO_DATE,
        },
    )
)
register(
    FileFormat(
        name="json",
        spark_format="json",
        extension="json",
        defaults={
            "ignoreNullFields": "false",
            "timestampFormat": ISO_TIMESTAMP,
            "timestampNTZFormat": ISO_TIMESTAMP_NTZ,
            "dateFormat": ISO_DATE,
        },
    )
)
register(
    FileFormat(
        name="parquet", spark_format="parquet", extension="parquet", joinable=False, embeds_compression=True
    )
)
