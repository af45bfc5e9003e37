"""Every axis of every chart the report draws can be read: a value axis shows at least three
labelled ticks inside its view, a categorical axis a label on each of its categories, and no
label says a digit finer than the figures were measured to (issue 23, item 5).

The charts are drawn from the committed reference run (every chart of a run, and micro.png from
its micro.json), from a synthetic run with two levels of users (the concurrency chart, which the
reference's single level does not draw), and the scenario charts from the documents their own
tests use (tests/test_capacity.py, tests/test_scenario_charts.py).

Axes skipped, each because it carries no values of its own:
- a grid cell left empty and switched off (`axis("off")`, the process-tree chart's unused
  panels): checked to hold no data;
- an axis whose labels are hidden because it shares them with a sibling that shows them (the
  efficiency chart's panels share one column of server names): the sibling is checked instead;
- a categorical axis with no category (the errors chart of a run without failures, which says
  "no failures in this run" instead).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import matplotlib.pyplot as plt
import pytest
from matplotlib.axis import Axis
from matplotlib.category import StrCategoryLocator
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, LogLocator, NullFormatter

from bench.launch import REPO_ROOT
from bench.report.capacity_chart import capacity_chart
from bench.report.charts import READABLE, ReadableLogLocator, all_charts, micro_chart
from bench.report.scenario_charts import crosscheck_chart, scale_chart, slowclients_chart
from bench.store import load_run
from tests import synthetic
from tests.test_capacity import fixed_document
from tests.test_scenario_charts import CROSS, SCALE, SLOW

REFERENCE = REPO_ROOT / "results" / "reference"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# reading an axis ----------------------------------------------------------------------------


def labelled_ticks(axis: Axis) -> list[tuple[float, str]]:
    """(position, label) of each tick drawn inside the axis's view with a visible, non-empty
    label, major and minor, as the figure was last drawn."""
    return [(loc, text.get_text().strip()) for loc, text in tick_labels(axis)]


def tick_labels(axis: Axis) -> list[tuple[float, Text]]:
    """(position, label artist) of each tick labelled inside the axis's view."""
    low, high = sorted(axis.get_view_interval())
    slack = (high - low) * 1e-9
    found = []
    for locs, ticks in (
        (axis.get_majorticklocs(), axis.get_major_ticks),
        (axis.get_minorticklocs(), axis.get_minor_ticks),
    ):
        for loc, tick in zip(locs, ticks(len(locs)), strict=True):
            if not (low - slack <= loc <= high + slack and tick.get_visible()):
                continue
            texts = [
                label
                for label in (tick.label1, tick.label2)
                if label.get_visible() and label.get_text().strip()
            ]
            if texts:
                found.append((float(loc), texts[0]))
    return found


def categories(axis: Axis) -> int | None:
    """How many categories a categorical axis draws in its view (ticks placed one per row or
    bar: set_yticks(range(n)) or string data); None for an axis of values."""
    locator = axis.get_major_locator()
    if not isinstance(locator, FixedLocator | StrCategoryLocator):
        return None
    low, high = sorted(axis.get_view_interval())
    return sum(1 for loc in locator() if low <= loc <= high)


def holds_data(ax) -> bool:
    return bool(ax.lines or ax.patches or ax.collections or ax.images)


def problems(name: str, figure: Figure) -> list[str]:
    """What cannot be read on the figure's axes, one line each (empty: every axis reads)."""
    figure.canvas.draw()
    found = []
    for index, ax in enumerate(figure.axes):
        where = f"{name}, panel {index} ({ax.get_title()!r})"
        if not ax.get_visible() or not ax.axison:
            if holds_data(ax):
                found.append(f"{where}: hidden, yet it draws data")
            continue
        for axis, letter in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            found += axis_problems(f"{where} {letter}", axis, letter, ax)
    return found


def axis_problems(where: str, axis: Axis, letter: str, ax) -> list[str]:
    ticks = labelled_ticks(axis)
    if not ticks and shown_by_sibling(axis, letter, ax):
        return []
    count = categories(axis)
    if count is not None:
        if count and len(ticks) < count:
            return [f"{where}: {len(ticks)} of its {count} categories labelled"]
        return []
    found = []
    if len(ticks) < READABLE:
        found.append(f"{where}: {len(ticks)} labelled ticks {[t for _, t in ticks]}")
    return found + honest(where, axis, ticks) + overlapping(where, axis)


def overlapping(where: str, axis: Axis) -> list[str]:
    """Labels printed over each other cannot be read either."""
    boxes = sorted(
        ((text.get_window_extent(), text.get_text()) for _, text in tick_labels(axis)),
        key=lambda box: (box[0].x0, box[0].y0),
    )
    return [
        f"{where}: {a!r} and {b!r} overlap"
        for (first, a), (second, b) in itertools.combinations(boxes, 2)
        if first.overlaps(second)
    ]


def shown_by_sibling(axis: Axis, letter: str, ax) -> bool:
    """Labels hidden on a shared axis whose sibling shows them (subplots' sharex/sharey)."""
    shared = ax.get_shared_x_axes() if letter == "x" else ax.get_shared_y_axes()
    siblings = [s for s in shared.get_siblings(ax) if s is not ax]
    return any(labelled_ticks(getattr(s, f"{letter}axis")) for s in siblings)


def honest(where: str, axis: Axis, ticks: list[tuple[float, str]]) -> list[str]:
    """A label on a log axis of ours says its tick's value, with no decimal finer than the
    resolution its figures were measured to."""
    locator = axis.get_major_locator()
    if not isinstance(locator, ReadableLogLocator):
        return []
    found = []
    for loc, label in ticks:
        value = float(label.replace(",", ""))
        if not math.isclose(value, loc, rel_tol=1e-6):
            found.append(f"{where}: the tick at {loc:g} is labelled {label!r}")
        decimals = len(label.partition(".")[2])
        if locator.resolution and 10**-decimals < locator.resolution * (1 - 1e-9):
            found.append(f"{where}: {label!r} is finer than {locator.resolution:g}")
    return found


# the charts ---------------------------------------------------------------------------------


def reference_charts() -> dict[str, Figure]:
    import json

    charts = all_charts(load_run(REFERENCE))
    charts["micro"] = micro_chart(json.loads((REFERENCE / "micro.json").read_text()))
    return charts


def levels_run() -> dict[str, Figure]:
    """A run at 1 and 16 users (the concurrency chart) with a generator-bound cell."""
    cells = [
        synthetic.cell("asyncio", "hello", 1, 4000.0),
        synthetic.cell("asyncio", "hello", 16, 8800.0, bound=True),
        synthetic.cell("fork_reap", "hello", 1, 300.0, p50_us=3000),
        synthetic.cell("fork_reap", "hello", 16, 350.0, p50_us=45_000),
    ]
    return all_charts(synthetic.record(synthetic.run(cells)))


SOURCES: dict[str, Callable[[], dict[str, Figure]]] = {
    "reference": reference_charts,
    "two levels": levels_run,
    "scenarios": lambda: {
        "capacity": capacity_chart(fixed_document()),
        "scale": scale_chart(SCALE),
        "slowclients": slowclients_chart(SLOW),
        "crosscheck": crosscheck_chart(CROSS),
    },
}


@pytest.mark.parametrize("source", list(SOURCES))
def test_every_axis_of_every_chart_reads(source: str) -> None:
    charts = SOURCES[source]()
    if source == "reference":
        expected = {"throughput", "latency", "open-loop", "process-tree", "micro", "errors"}
        assert expected <= set(charts)
    if source == "two levels":
        assert "concurrency" in charts
    found = [line for name, figure in charts.items() for line in problems(name, figure)]
    assert not found, "\n".join(found)


def test_the_reader_fails_the_axis_the_issue_found() -> None:
    """The micro chart's old axis (powers of ten only, over 40 to 90 µs) shows no label: the
    reader says so, and the chart's axis now shows several."""
    figure, ax = plt.subplots()
    ax.plot([40, 90], [0, 1])
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_minor_formatter(NullFormatter())
    (line,) = [p for p in problems("old", figure) if " x:" in p]
    assert "0 labelled ticks" in line
    micro = {
        "benchmarks": [
            {"group": "g", "name": n, "extra_info": {}, "stats": {"median": m, "iqr": 2e-6}}
            for n, m in (("a", 40e-6), ("b", 90e-6))
        ]
    }
    shown = labelled_ticks(micro_chart_drawn(micro).axes[0].xaxis)
    assert [label for _, label in shown] == ["40", "50", "60", "70", "80", "90"]


def micro_chart_drawn(micro: dict) -> Figure:
    figure = micro_chart(micro)
    figure.canvas.draw()
    return figure


@pytest.mark.parametrize("low", [0.013, 0.25, 1.0, 7.3, 40.0, 980.0, 12_345.0])
@pytest.mark.parametrize("ratio", [1.08, 1.4, 2.0, 3.0, 4.9, 9.0, 30.0, 1e5])
@pytest.mark.parametrize("resolution", [None, 0.001])
def test_a_log_axis_labels_three_ticks_over_any_range(
    low: float, ratio: float, resolution: float | None
) -> None:
    """From a span of 8 % to five decades: at least three labels, each its tick's value, none
    finer than the resolution; spans of less than three resolution steps are not drawn."""
    from bench.report.charts import plain_log_axis

    if resolution and low * (ratio - 1) < 3 * resolution:
        pytest.skip("a span of less than three measured steps")
    figure, ax = plt.subplots(figsize=(3.6, 3))  # as narrow as a report's panel
    ax.set_xscale("log")
    plain_log_axis(ax.xaxis, resolution=resolution)
    ax.set_xlim(low, low * ratio)
    figure.canvas.draw()
    ticks = labelled_ticks(ax.xaxis)
    assert len(ticks) >= READABLE, ticks
    assert not honest("x", ax.xaxis, ticks)
    assert not overlapping("x", ax.xaxis)
    assert len({label for _, label in ticks}) == len(ticks)


def test_counts_read_as_whole_numbers_from_zero() -> None:
    """A count that stays at 0 (no failure anywhere) still reads against 0, 1, 2, never 0.2
    of a request."""
    from bench.report.charts import errors_chart

    figure = errors_chart(
        synthetic.record(synthetic.run([synthetic.cell("asyncio", "hello", 16, 10)]))
    )
    figure.canvas.draw()
    assert [label for _, label in labelled_ticks(figure.axes[0].xaxis)] == ["0", "1", "2"]
