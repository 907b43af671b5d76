"""The dashboard's pictures: server-rendered SVG, each with a title and a description for
screen readers (role="img", aria-labelledby) and a title on every bar and point.

Plain functions from numbers to markup; every text is escaped here. Colours come from the
style sheet (classes s0..s5), so the charts follow the desk's light or dark scheme.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float, ...]


def _frame(ident: str, title: str, desc: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="{ident}-t {ident}-d">'
            f'<title id="{ident}-t">{escape(title)}</title>'
            f'<desc id="{ident}-d">{escape(desc)}</desc>' + "".join(body) + "</svg>")


def _axis(top: float, label: str, labels: Sequence[str], step: float) -> list[str]:
    out = [f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
           f'y2="{HEIGHT - BOTTOM}"/>',
           f'<text class="tick" x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">'
           f'{escape(label)}</text>',
           f'<text class="tick" x="{LEFT - 4}" y="{HEIGHT - BOTTOM}" text-anchor="end">0</text>']
    every = max(1, len(labels) // 10)
    for i, text in enumerate(labels):
        if i % every == 0:
            x = LEFT + step * (i + 0.5)
            out.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 8}" '
                       f'text-anchor="middle">{escape(text)}</text>')
    return out


def stacked_bars(ident: str, title: str, desc: str, labels: Sequence[str],
                 series: Sequence[Series], *, share: bool = False) -> str:
    """Bars per label, stacked by series; `share`: each bar is 100 % (values are counts)."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = 1.0 if share else max([*totals, 1.0])
    plot_h = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    body = _axis(top, "100 %" if share else f"{top:g}", labels, step)
    for i, label in enumerate(labels):
        y = float(HEIGHT - BOTTOM)
        for k, s in enumerate(series):
            value = s.values[i]
            part = (value / totals[i] if totals[i] else 0.0) if share else value
            h = plot_h * part / top
            if h <= 0:
                continue
            y -= h
            shown = f"{100 * part:.0f} % ({value:g})" if share else f"{value:g}"
            body.append(f'<rect class="s{k % 6}" x="{LEFT + step * i + 1:.1f}" y="{y:.1f}" '
                        f'width="{max(step - 2, 1):.1f}" height="{h:.1f}">'
                        f'<title>{escape(label)}: {escape(s.name)} {escape(shown)}</title></rect>')
    return _frame(ident, title, desc, body)


def lines(ident: str, title: str, desc: str, labels: Sequence[str],
          series: Sequence[Series]) -> str:
    """One line per series of shares (0..1) over the labels."""
    top = max([v for s in series for v in s.values] + [0.05])
    plot_h = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    body = _axis(top, f"{100 * top:.0f} %", labels, step)
    for k, s in enumerate(series):
        points = [(LEFT + step * (i + 0.5), HEIGHT - BOTTOM - plot_h * v / top)
                  for i, v in enumerate(s.values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(f'<polyline class="l{k % 6}" fill="none" points="{path}"/>')
        for (x, y), label, v in zip(points, labels, s.values, strict=True):
            body.append(f'<circle class="p{k % 6}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                        f'<title>{escape(label)}: {escape(s.name)} {100 * v:.0f} %</title>'
                        "</circle>")
    return _frame(ident, title, desc, body)
