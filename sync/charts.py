"""Bar charts as geometry for inline SVG (SPEC §8: charts rendered on the server, no
JavaScript, no build step). Pure: numbers in, rectangles and labels out; the template
draws them and the table under each chart says the same in words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 720
HEIGHT = 220
LEFT = 44  # room for the y-axis labels
BOTTOM = 24  # room for the x-axis labels
TOP = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str  # a CSS class suffix
    label: str  # the tooltip (<title>)


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    anchor: str = "middle"  # SVG text-anchor: the last x label ends at its bar


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    baseline: float
    left: int


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2 or 5 times 10^k at or above `value` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _y_ticks(top: int, plot_height: float) -> list[Tick]:
    ticks = [0, top // 2, top] if top >= 2 else [0, top]
    return [Tick(position=TOP + plot_height * (1 - t / top), label=str(t)) for t in ticks]


def _x_ticks(labels: Sequence[str], slot: float) -> list[Tick]:
    """At most about seven evenly spaced labels, always the first and the last."""
    if not labels:
        return []
    every = max(1, round(len(labels) / 6))
    picked = list(range(0, len(labels), every))
    if picked[-1] != len(labels) - 1:
        if len(labels) - 1 - picked[-1] < every / 2:
            picked.pop()
        picked.append(len(labels) - 1)
    ticks = [Tick(position=LEFT + slot * (i + 0.5), label=labels[i]) for i in picked]
    last = ticks[-1]
    ticks[-1] = Tick(position=min(last.position + slot / 2, WIDTH), label=last.label, anchor="end")
    return ticks


def stacked_columns(
    labels: Sequence[str],
    series: Sequence[str],
    values: Sequence[Sequence[int]],
    *,
    series_names: dict[str, str],
    tick_labels: Sequence[str] | None = None,
) -> BarChart:
    """One column per label, its segments stacked in `series` order; `values[i][j]` is
    label i's count of series j."""
    return _columns(labels, series, values, series_names, tick_labels, stacked=True, fill=0.72)


def grouped_columns(
    labels: Sequence[str],
    series: Sequence[str],
    values: Sequence[Sequence[int]],
    *,
    series_names: dict[str, str],
    tick_labels: Sequence[str] | None = None,
) -> BarChart:
    """One group per label, a bar per series side by side."""
    return _columns(labels, series, values, series_names, tick_labels, stacked=False, fill=0.8)


def _columns(
    labels: Sequence[str],
    series: Sequence[str],
    values: Sequence[Sequence[int]],
    series_names: dict[str, str],
    tick_labels: Sequence[str] | None,
    *,
    stacked: bool,
    fill: float,
) -> BarChart:
    """A slot per label; its bars either stacked into one column or side by side, the
    `fill` share of the slot wide in all."""
    plot_width = WIDTH - LEFT
    plot_height = HEIGHT - TOP - BOTTOM
    tallest = (sum(column) if stacked else max(column, default=0) for column in values)
    top = nice_ceiling(max(tallest, default=0))
    slot = plot_width / max(len(labels), 1)
    group_width = slot * fill
    bar_width = max(group_width if stacked else group_width / max(len(series), 1), 1.0)
    if stacked:
        group_width = bar_width
    bars = []
    for i, column in enumerate(values):
        base: float = TOP + plot_height
        for j, count in enumerate(column):
            if not count:
                continue
            height = plot_height * count / top
            x = LEFT + slot * i + (slot - group_width) / 2
            if stacked:
                base -= height
                y = base
            else:
                x += bar_width * j
                y = TOP + plot_height - height
            bars.append(
                Bar(
                    x=round(x, 2),
                    y=round(y, 2),
                    width=round(bar_width, 2),
                    height=round(height, 2),
                    series=series[j],
                    label=f"{labels[i]}: {count} {series_names[series[j]]}",
                )
            )
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        x_ticks=_x_ticks(tick_labels or labels, slot),
        y_ticks=_y_ticks(top, plot_height),
        baseline=TOP + plot_height,
        left=LEFT,
    )


@dataclass(frozen=True)
class HorizontalBar:
    y: float
    width: float
    label: str
    value: int
    text_y: float
    value_x: float


@dataclass(frozen=True)
class BarList:
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: list[HorizontalBar]


ROW = 26
LABEL_WIDTH = 150


def horizontal_bars(pairs: Sequence[tuple[str, int]], *, width: int = 560) -> BarList:
    """A ranked list as bars: one row per (label, value), the largest filling the width
    left after the labels and room for the value."""
    largest = max((value for _, value in pairs), default=0) or 1
    room = width - LABEL_WIDTH - 48
    bars = []
    for i, (label, value) in enumerate(pairs):
        bar_width = round(max(room * value / largest, 1.0), 2)
        bars.append(
            HorizontalBar(
                y=i * ROW + 4,
                width=bar_width,
                label=label,
                value=value,
                text_y=i * ROW + 18,
                value_x=LABEL_WIDTH + bar_width + 6,
            )
        )
    return BarList(
        width=width,
        height=max(len(pairs), 1) * ROW,
        label_width=LABEL_WIDTH,
        bar_height=ROW - 8,
        bars=bars,
    )
