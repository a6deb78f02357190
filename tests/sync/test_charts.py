"""Chart geometry (sync/charts.py): pure, no database."""

from __future__ import annotations

import pytest

from sync.charts import (
    BOTTOM,
    HEIGHT,
    TOP,
    grouped_columns,
    horizontal_bars,
    nice_ceiling,
    stacked_columns,
)

NAMES = {"a": "alphas", "b": "betas"}


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (2, 2), (3, 5), (5, 5), (6, 10), (11, 20), (501, 1000)]
)
def test_nice_ceiling(value: int, ceiling: int) -> None:
    assert nice_ceiling(value) == ceiling


def test_stacked_columns_stack_to_the_total_and_skip_zeros() -> None:
    chart = stacked_columns(["d1", "d2"], ["a", "b"], [[2, 3], [0, 1]], series_names=NAMES)
    plot = HEIGHT - TOP - BOTTOM
    first = [bar for bar in chart.bars if bar.label.startswith("d1")]
    assert [bar.series for bar in first] == ["a", "b"]
    assert sum(bar.height for bar in first) == pytest.approx(plot * 5 / 5)
    assert first[0].y + first[0].height == pytest.approx(chart.baseline)
    assert first[1].y + first[1].height == pytest.approx(first[0].y)
    assert [bar.label for bar in chart.bars if bar.label.startswith("d2")] == ["d2: 1 betas"]
    assert [tick.label for tick in chart.y_ticks] == ["0", "2", "5"]


def test_grouped_columns_sit_side_by_side_on_the_baseline() -> None:
    chart = grouped_columns(["d1"], ["a", "b"], [[4, 2]], series_names=NAMES)
    a, b = chart.bars
    assert a.x + a.width == pytest.approx(b.x)
    assert a.y + a.height == pytest.approx(b.y + b.height) == pytest.approx(chart.baseline)
    assert a.height == pytest.approx(2 * b.height)


def test_x_ticks_are_few_and_keep_the_first_and_last() -> None:
    labels = [f"d{i}" for i in range(30)]
    chart = stacked_columns(labels, ["a"], [[1]] * 30, series_names=NAMES)
    ticks = [tick.label for tick in chart.x_ticks]
    assert ticks[0] == "d0" and ticks[-1] == "d29"
    assert len(ticks) <= 8
    assert chart.x_ticks[-1].anchor == "end"


def test_horizontal_bars_scale_to_the_largest() -> None:
    bars = horizontal_bars([("octocat", 10), ("hubot", 5)]).bars
    assert bars[0].width == pytest.approx(2 * bars[1].width)
    assert bars[1].y > bars[0].y
    assert horizontal_bars([]).bars == []
