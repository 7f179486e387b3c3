"""YAML and JSON readers that refuse a key given twice in one mapping (the last would win silently).

:func:`load` returns the parsed data and one :class:`Duplicate` per repeated key, with the line
of the repeat and of the first definition, so ``fabgen validate`` can name file, line and key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Duplicate:
    """A key given twice in one mapping."""

    key: str
    line: int  # 1-based line of the repeat
    first_line: int  # 1-based line of the first definition

    def message(self) -> str:
        """``duplicate key 'x' on line 7 (first on line 3); remove one``."""
        return f"duplicate key {self.key!r} on line {self.line} (first on line {self.first_line}); remove one"


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that records repeated mapping keys instead of keeping the last."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicates: list[Duplicate] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    self.duplicates.append(Duplicate(str(key), line, seen[key]))
                else:
                    seen[key] = line
            except TypeError:  # an unhashable key: SafeLoader reports it below
                pass
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> tuple[Any, list[Duplicate]]:
    """Parse YAML (safe tags only); raises ``yaml.YAMLError`` like ``yaml.safe_load``."""
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    finally:
        loader.dispose()


def _python_scanner(decoder: Any) -> Any:
    """CPython's pure-Python JSON scanner (the C one ignores a replaced ``parse_object``)."""
    import json.scanner

    return getattr(json.scanner, "py_make_scanner")(decoder)  # noqa: B009 - not in typeshed


def load_json(text: str) -> tuple[Any, list[Duplicate]]:
    """Parse JSON; raises ``json.JSONDecodeError`` like ``json.loads``."""
    duplicates: list[Duplicate] = []
    decoder: Any = json.JSONDecoder()  # parse_object / scan_once are CPython's undocumented hooks
    plain_object = decoder.parse_object

    def parse_object(
        state: tuple[str, int], strict: bool, scan_once: Any, _hook: Any, _pairs_hook: Any, memo: Any = None
    ) -> tuple[Any, int]:
        text_, start = state
        pairs, end = plain_object(state, strict, scan_once, None, list, memo)
        seen: dict[str, int] = {}
        keys = [key for key, _value in pairs]
        positions = _key_positions(text_, start, end, keys)
        for key, position in zip(keys, positions, strict=True):
            line = text_.count("\n", 0, position) + 1
            if key in seen:
                duplicates.append(Duplicate(key, line, seen[key]))
            else:
                seen[key] = line
        return dict(pairs), end

    decoder.parse_object = parse_object
    decoder.scan_once = _python_scanner(decoder)  # the C scanner ignores parse_object
    return decoder.decode(text), duplicates


def _key_positions(text: str, start: int, end: int, keys: list[str]) -> list[int]:
    """Where each key of one object starts (searched in order; nested objects come after their key)."""
    positions, at = [], start
    for key in keys:
        match = re.compile(re.escape(json.dumps(key)) + r"\s*:").search(text, at, end)
        if match is None:  # a key spelled with escapes: fall back to the object's start
            positions.append(start)
            continue
        positions.append(match.start())
        at = match.end()
    return positions
