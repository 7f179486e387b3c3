"""The inline SVG charts of ``fabgen report`` (:mod:`.report_html`): a timeline and a small bar chart.

Pure: numbers, colors and labels in, SVG text out. Every text and attribute value is escaped. The
elements carry no ``xmlns`` (inline SVG in HTML needs none), so the report holds no URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

#: timeline geometry (px): label column, row height, lane heading, axis
LABEL_WIDTH = 250
ROW_HEIGHT = 20
LANE_HEADING = 20
AXIS_HEIGHT = 22
#: the longest label a timeline row shows (the full one is in its tooltip)
LABEL_CHARS = 36
#: the widest a small chart's bar gets (px): a few runs stay bars, not blocks
BAR_STEP = 14.0


@dataclass(frozen=True)
class Bar:
    """One row of a timeline: seconds from the timeline's origin (``start`` None: never started,
    ``end`` None: not finished, drawn to the end, dashed); ``title`` is its tooltip."""

    label: str
    start: float | None
    end: float | None
    color: str
    title: str


@dataclass(frozen=True)
class Point:
    """One bar of a small chart (``value`` None: no value, e.g. a failed run: a stub)."""

    value: float | None
    color: str
    title: str


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _text(x: float, y: float, content: str, cls: str, anchor: str = "start") -> str:
    return f'<text x="{_num(x)}" y="{_num(y)}" class="{cls}" text-anchor="{anchor}">{escape(content)}</text>'


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def timeline(
    lanes: Sequence[tuple[str, Sequence[Bar]]],
    span: float,
    tick_label: Callable[[float], str],
    width: int = 1000,
    ticks: int = 5,
) -> str:
    """A timeline: per lane (an execution group) a heading, then one bar per row, over ``span`` s."""
    span = max(span, 1e-3)
    plot = width - LABEL_WIDTH - 12
    rows = sum(len(bars) for _title, bars in lanes)
    height = AXIS_HEIGHT + len(lanes) * LANE_HEADING + rows * ROW_HEIGHT + 4

    def x(seconds: float) -> float:
        return LABEL_WIDTH + plot * min(max(seconds, 0.0), span) / span

    parts = [
        f'<svg class="timeline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="timeline">'
    ]
    for i in range(ticks + 1):
        at = span * i / ticks
        anchor = "start" if i == 0 else ("end" if i == ticks else "middle")
        parts.append(f'<line x1="{_num(x(at))}" y1="{AXIS_HEIGHT - 4}" x2="{_num(x(at))}" ')
        parts.append(f'y2="{height}" class="grid"/>')
        parts.append(_text(x(at), AXIS_HEIGHT - 8, tick_label(at), "tick", anchor))
    y = float(AXIS_HEIGHT)
    for title, bars in lanes:
        parts.append(_text(4, y + LANE_HEADING - 6, title, "lane"))
        y += LANE_HEADING
        for bar in bars:
            parts.append(f"<g><title>{escape(bar.title)}</title>")
            parts.append(_text(12, y + ROW_HEIGHT - 6, _short(bar.label), "label"))
            if bar.start is None:
                cy = y + ROW_HEIGHT / 2
                parts.append(f'<circle cx="{_num(x(0) + 5)}" cy="{_num(cy)}" r="4" fill="none" ')
                parts.append(f'stroke="{escape(bar.color)}" stroke-width="2"/>')
            else:
                left = x(bar.start)
                right = x(span if bar.end is None else bar.end)
                dash = ' stroke-dasharray="4 2"' if bar.end is None else ""
                parts.append(
                    f'<rect class="bar" x="{_num(left)}" y="{_num(y + 3)}" '
                    f'width="{_num(max(right - left, 2.0))}" height="{ROW_HEIGHT - 6}" rx="2" '
                    f'fill="{escape(bar.color)}" stroke="{escape(bar.color)}"{dash}/>'
                )
            parts.append("</g>")
            y += ROW_HEIGHT
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    points: Sequence[Point], top_label: str, metric: str, width: int = 220, height: int = 56
) -> str:
    """A small bar chart of ``points`` (oldest first) scaled to their largest value (``top_label``)."""
    top = max((p.value for p in points if p.value is not None), default=0.0) or 1.0
    base = height - 2
    room = base - 12  # the top label's line
    step = min((width - 4) / max(len(points), 1), BAR_STEP)
    gap = 1.0 if step > 4 else 0.0
    parts = [
        f'<svg class="chart" data-metric="{escape(metric)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(metric)}">',
        _text(2, 9, top_label, "tick"),
        f'<line x1="0" y1="{base}" x2="{width}" y2="{base}" class="axis"/>',
    ]
    for i, point in enumerate(points):
        left = 2 + i * step
        if point.value is None:
            bar_h, y = 3.0, base - 3.0
        else:
            bar_h = max(room * point.value / top, 1.0)
            y = base - bar_h
        parts.append(
            f'<rect x="{_num(left)}" y="{_num(y)}" width="{_num(max(step - gap, 1.0))}" '
            f'height="{_num(bar_h)}" fill="{escape(point.color)}"><title>{escape(point.title)}</title></rect>'
        )
    parts.append("</svg>")
    return "".join(parts)
