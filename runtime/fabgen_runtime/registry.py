"""One registry type for fabgen's pluggable parts, registered by name (as papermill registers its engines).

``formats/`` (``file_format``), ``compression/`` (``compression``) and ``sources/`` (``source_type``)
each hold a :class:`Registry`; validation reads the names from them, so a newly registered part is
accepted everywhere at once.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from .errors import ExportError

T = TypeVar("T")


class Registry(Generic[T]):
    """Parts of one kind by name; an unknown name raises the kind's error, listing the known ones."""

    def __init__(self, field: str, error: type[ExportError]):
        self.field = field
        self._error = error
        self._parts: dict[str, T] = {}

    def register(self, name: str, part: T) -> T:
        """Add (or replace) ``part`` under ``name``."""
        self._parts[name] = part
        return part

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a part of their own)."""
        self._parts.pop(name, None)

    def get(self, name: str, export: str | None = None) -> T:
        """The part called ``name``; the kind's error (naming ``export``) for an unknown one."""
        try:
            return self._parts[name]
        except KeyError:
            message = f"unknown {self.field} {name!r} (known: {', '.join(self.names())})"
            raise self._error(message, export) from None

    def names(self) -> list[str]:
        """The registered names, sorted (what the config field may say)."""
        return sorted(self._parts)

    def known(self, name: str | None) -> bool:
        """Whether ``name`` is registered."""
        return name in self._parts
