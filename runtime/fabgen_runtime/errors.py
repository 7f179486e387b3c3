"""One error hierarchy for the runtime and the generator.

Every error fabgen raises on purpose derives from :class:`FabgenError`. The CLI turns
:class:`ConfigError` (and subclasses) into exit code 2 and every other ``FabgenError``
into exit code 1, so pipelines can tell bad input from a failed run.
"""

from __future__ import annotations

from dataclasses import dataclass


class FabgenError(Exception):
    """Base class of every error fabgen raises on purpose."""

    exit_code = 1


@dataclass(frozen=True)
class ConfigIssue:
    """One problem with one field of one export (or of the project)."""

    where: str  # "group/name" of the export, or a file / project key
    field: str | None
    message: str
    source: str | None = None  # the file the export row came from, when known

    def __str__(self) -> str:
        field = f" {self.field}:" if self.field else ":"
        source = f"{self.source}: " if self.source and self.source != self.where else ""
        return f"{source}{self.where}{field} {self.message}"


class ConfigError(FabgenError):
    """Invalid configuration. Carries every issue found, not just the first."""

    exit_code = 2

    def __init__(self, issues: list[ConfigIssue] | ConfigIssue | str):
        if isinstance(issues, str):
            issues = [ConfigIssue("config", None, issues)]
        elif isinstance(issues, ConfigIssue):
            issues = [issues]
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__(self._summary())

    def _summary(self) -> str:
        if len(self.issues) == 1:
            return str(self.issues[0])
        lines = [f"{len(self.issues)} configuration errors:"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)


class PlaceholderError(ConfigError):
    """A pattern names an unknown placeholder or has a bad format spec."""


class PathError(ConfigError):
    """A resolved output path would leave the target lakehouse's ``Files/``."""


class ExportError(FabgenError):
    """An export failed while running. ``export`` is ``group/name`` when known."""

    def __init__(self, message: str, export: str | None = None):
        self.export = export
        super().__init__(f"{export}: {message}" if export else message)


class SourceReadError(ExportError):
    """Reading the source (table, query, period query) failed."""


class WriteError(ExportError):
    """Writing the output files failed."""


class CompressionError(WriteError):
    """Compressing the output failed."""


class PublishError(WriteError):
    """Moving staged files into place, or writing the trigger file, failed."""


class StateError(ExportError):
    """Reading or writing the log or watermark tables failed."""


class StateTableError(StateError):
    """A state table cannot be used as it is: its Delta log is damaged (a commit file empty,
    truncated or not JSON) or the table does not open. ``table`` is its location, ``file`` the
    damaged commit file when one was found. Nothing runs until the table is restored."""

    def __init__(self, message: str, table: str, file: str | None = None):
        self.table = table
        self.file = file
        super().__init__(message)


class PlatformError(FabgenError):
    """The platform (Fabric or local) is missing something fabgen needs."""


class QueryRefusedError(SourceReadError):
    """A source query is not one read-only query (a command, a path or a table outside its lakehouse)."""


class LeaseHeld(StateError):
    """Another live run holds the export's lease (one writer per export), or ours lapsed."""


class RecoveryFailed(PublishError):
    """A publish that failed or was interrupted could not be finished or rolled back, so files may
    be out of place. Its journal and staging (which may hold the files it replaced) are kept, and
    the export does not run again until ``fabgen recover`` completes it."""


class SchemaDriftError(ExportError):
    """The source's columns changed since the export's last successful run and the export's
    ``on_schema_change`` policy (or a retyped incremental column) refuses to export them."""
