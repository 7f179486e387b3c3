"""One resolver for every pattern and query: ``{name}`` or ``{name:spec}``.

Date placeholders (``run_date``, ``process_date``, ``period_start_date``, ``period_end_date``,
``timestamp``) take a strftime spec (``{run_date:%Y%m%d}``); without one they render ISO
(``2025-12-12 00:00:00``; ``timestamp`` renders ``%Y%m%d_%H%M%S``). ``part`` takes a Python
integer spec (``{part:04d}``). ``{{`` and ``}}`` stand for literal braces.

Only strftime codes that mean the same on every platform are accepted, plus the glibc-style
no-padding flag on numeric codes (``%-d``, ``%-m``, ``%-H``, ...), which fabgen renders itself so
the output is the same on Linux (Fabric), macOS and Windows. ``%z``/``%Z`` are rejected: the dates
are naive wall-clock times in the run's timezone and would render them empty.

Patterns are checked once, when the config is validated (:func:`check_pattern`), and rendered
for every run (:func:`render`). In SQL, pass ``escape`` so that values such as a stored watermark
can never leave the string literal they are placed in.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

DATE_PLACEHOLDERS = frozenset(
    {"run_date", "process_date", "period_start_date", "period_end_date", "timestamp"}
)
TEXT_PLACEHOLDERS = frozenset({"export_name", "run_id", "watermark", "ext"})
INT_PLACEHOLDERS = frozenset({"part"})
ALL_PLACEHOLDERS = DATE_PLACEHOLDERS | TEXT_PLACEHOLDERS | INT_PLACEHOLDERS

TIMESTAMP_FORMAT = "%Y%m%d_%H%M%S"

# strftime directives that mean the same on every platform Python runs on.
_STRFTIME_CODES = frozenset("aAwdbBmyYHIpMSfjUWcxXGuV%")
# Numeric codes that take the no-padding flag ``%-d`` (rendered by fabgen, not the C library).
_UNPADDED_CODES = frozenset("dmHIMSjy")
# One token of a strftime spec: a directive (with optional '-' flag), a lone trailing '%', or text.
_TOKEN = re.compile(r"%(-?)(.)|(%)$|([^%]+)", re.DOTALL)

_formatter = string.Formatter()


@dataclass(frozen=True)
class Placeholder:
    """One ``{name:spec}`` occurrence in a pattern."""

    name: str
    spec: str


def parse(pattern: str) -> list[Placeholder]:
    """Return the placeholders of ``pattern`` in order; raise ``ValueError`` on bad syntax."""
    found: list[Placeholder] = []
    try:
        parsed = list(_formatter.parse(pattern))
    except ValueError as exc:
        raise ValueError(f"{exc} (write '{{{{' or '}}}}' for a literal brace)") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if conversion:
            raise ValueError(f"'{{{name}!{conversion}}}': conversions are not supported")
        if not name or not name.isidentifier():
            raise ValueError(f"'{{{name}}}' is not a placeholder name (write '{{{{' for a literal brace)")
        if "{" in (spec or ""):
            raise ValueError(f"'{{{name}:{spec}}}': nested placeholders are not supported")
        found.append(Placeholder(name, spec or ""))
    return found


def check_strftime(spec: str) -> None:
    """Raise ``ValueError`` unless ``spec`` is a strftime spec fabgen can render the same everywhere.

    Every ``%`` directive must be a portable code (``%-`` only on numeric codes), and the spec
    must hold at least one directive (``{run_date:YYYYMMDD}`` is a mistake, not a format).
    """
    directives = 0
    for match in _TOKEN.finditer(spec):
        flag, code, dangling, _text = match.groups()
        if dangling:
            raise ValueError(f"spec {spec!r} ends with a lone '%' (write '%%' for a percent sign)")
        if code is None:
            continue
        if code in "zZ":
            raise ValueError(f"'%{code}' is not supported: the dates are naive times in the run's timezone")
        if code not in _STRFTIME_CODES or (flag and code not in _UNPADDED_CODES):
            raise ValueError(f"bad strftime directive '%{flag}{code}' in {spec!r}")
        if code != "%":
            directives += 1
    if not directives:
        raise ValueError(f"spec {spec!r} has no strftime directive (e.g. %Y%m%d)")


def strftime(value: date | datetime, spec: str) -> str:
    """``value.strftime(spec)``, with ``%-d``-style no-padding codes rendered the same on every platform."""
    out: list[str] = []
    for match in _TOKEN.finditer(spec):
        flag, code, dangling, text = match.groups()
        if text is not None or dangling:
            out.append(text or "%")
        elif flag and code in _UNPADDED_CODES:
            out.append(str(int(value.strftime(f"%{code}"))))
        else:
            out.append(value.strftime(f"%{flag}{code}"))
    return "".join(out)


def check_pattern(pattern: str, allowed: Iterable[str] = ALL_PLACEHOLDERS) -> list[str]:
    """Return a message for every problem in ``pattern`` (empty when it is fine)."""
    allowed = frozenset(allowed)
    try:
        placeholders = parse(pattern)
    except ValueError as exc:
        return [str(exc)]
    problems: list[str] = []
    for ph in placeholders:
        if ph.name not in ALL_PLACEHOLDERS:
            known = ", ".join(sorted(ALL_PLACEHOLDERS))
            problems.append(f"unknown placeholder '{{{ph.name}}}' (known: {known})")
        elif ph.name not in allowed:
            problems.append(f"placeholder '{{{ph.name}}}' is not available here")
        elif ph.name in DATE_PLACEHOLDERS and ph.spec:
            try:
                check_strftime(ph.spec)
            except ValueError as exc:
                problems.append(f"'{{{ph.name}:{ph.spec}}}': {exc}")
        elif ph.name in INT_PLACEHOLDERS and ph.spec:
            try:
                format(1, ph.spec)
            except ValueError as exc:
                problems.append(f"'{{{ph.name}:{ph.spec}}}': bad integer format ({exc})")
        elif ph.name in TEXT_PLACEHOLDERS and ph.spec:
            try:
                format("x", ph.spec)
            except ValueError as exc:
                problems.append(f"'{{{ph.name}:{ph.spec}}}': bad format ({exc})")
    return problems


def names(pattern: str) -> set[str]:
    """The placeholder names used in ``pattern`` (empty on bad syntax)."""
    try:
        return {ph.name for ph in parse(pattern)}
    except ValueError:
        return set()


def _render_value(name: str, spec: str, value: Any) -> str:
    if name in DATE_PLACEHOLDERS:
        if not isinstance(value, (datetime, date)):
            raise ValueError(f"placeholder '{{{name}}}' needs a date, got {value!r}")
        if spec:
            return strftime(value, spec)
        if name == "timestamp":
            return value.strftime(TIMESTAMP_FORMAT)
        if isinstance(value, datetime):
            return value.replace(tzinfo=None, microsecond=0).isoformat(sep=" ")
        return datetime(value.year, value.month, value.day).isoformat(sep=" ")
    return format(value, spec)


def render(
    pattern: str,
    values: Mapping[str, Any],
    escape: Callable[[str], str] | None = None,
) -> str:
    """Substitute every placeholder of ``pattern`` from ``values``.

    ``escape`` is applied to each rendered value (for SQL string literals). A placeholder
    whose value is missing or ``None`` raises ``ValueError`` naming it.
    """
    out: list[str] = []
    for literal, name, spec, _conversion in _formatter.parse(pattern):
        out.append(literal)
        if name is None:
            continue
        value = values.get(name)
        if value is None:
            raise ValueError(f"placeholder '{{{name}}}' has no value in this run")
        text = _render_value(name, spec or "", value)
        out.append(escape(text) if escape else text)
    return "".join(out)
