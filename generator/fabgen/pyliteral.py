"""Readable, deterministic Python literals for values embedded in rendered notebooks.

:func:`py_literal` writes ``None``, bools, numbers, strings, lists and dicts (keys in their given
order) the way a person would: short collections on one line, longer ones one item per line with
trailing commas, multi-line strings as implicitly concatenated lines. ``ast.literal_eval`` of the
result gives the value back exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

INDENT = "    "
WIDTH = 100


def _string(value: str, level: int) -> str:
    # A JSON string is a valid Python string literal with the same value (same escapes).
    if "\n" not in value.rstrip("\n") or len(value) < 40:
        return json.dumps(value, ensure_ascii=False)
    pad = INDENT * (level + 1)
    lines = value.splitlines(keepends=True)
    body = "\n".join(pad + json.dumps(line, ensure_ascii=False) for line in lines)
    return f"(\n{body}\n{INDENT * level})"


def _scalar(value: Any, level: int) -> str | None:
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot embed {value!r} as a literal")
        return repr(value)
    if isinstance(value, str):
        return _string(value, level)
    return None


def py_literal(value: Any, level: int = 0) -> str:
    """``value`` as Python source text, indented for nesting depth ``level``."""
    scalar = _scalar(value, level)
    if scalar is not None:
        return scalar
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"only string keys can be embedded, got {key!r}")
        items = [(json.dumps(k, ensure_ascii=False), v) for k, v in value.items()]
        open_, close = "{", "}"
        parts = [f"{k}: {py_literal(v, level + 1)}" for k, v in items]
    elif isinstance(value, (list, tuple)):
        open_, close = "[", "]"
        parts = [py_literal(v, level + 1) for v in value]
    else:
        raise ValueError(f"cannot embed a {type(value).__name__} as a literal")
    if not parts:
        return open_ + close
    inline = open_ + ", ".join(parts) + close
    if "\n" not in inline and len(inline) + len(INDENT) * level <= WIDTH and len(parts) <= 6:
        return inline
    pad = INDENT * (level + 1)
    body = "".join(f"{pad}{part},\n" for part in parts)
    return f"{open_}\n{body}{INDENT * level}{close}"
