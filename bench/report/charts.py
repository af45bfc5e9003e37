"""Charts: matplotlib figures drawn from a stored run.json and nothing else.

Every function takes the run's record (bench/record.py) and returns a Figure (tests read the
plotted data back), so any stored run can be drawn again without rerunning it. One colour per
server in every chart, from a colour-blind-safe palette, with line styles for servers past its
ten colours.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no screen: files only

import matplotlib.pyplot as plt
import numpy as np
from hdrh.histogram import HdrHistogram
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from bench.catalog import SERVERS
from bench.contract import BEHIND
from bench.record import CellRecord, Percentiles, RunRecord
from bench.report.select import (
    closed_summaries,
    ok_cells,
    open_cells,
    servers_in,
    telemetry_cells,
    top_levels,
)
from bench.stats import Estimate, summarise

# Okabe-Ito, then Paul Tol's "muted": colour-blind-safe, and distinct enough for 17 servers;
# a marker shape per server too, so no reader has to tell colours apart alone.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#56B4E9",
    "#CC79A7",
    "#000000",
    "#F0E442",
    "#332288",
    "#117733",
    "#882255",
    "#44AA99",
    "#999933",
    "#AA4499",
    "#CC6677",
    "#88CCEE",
    "#DDCC77",
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")
SPECTRUM = (50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99)
BEYOND = 10  # a percentile is drawn only with this many answers past it (else: the maximum)


def has_percentile(count: int, percentile: float) -> bool:
    """Whether `count` answers hold the percentile: at least BEYOND of them lie past it (p99
    needs 1,000 answers, p99.9 10,000); with fewer, the 'percentile' is the maximum in disguise."""
    return count * (1 - percentile / 100) >= BEYOND - 1e-9


READABLE = 3  # labelled ticks every value axis shows inside its view (tests/test_chart_axes.py)
MS_MEASURED_IN_US = 0.001  # latency axes are in ms; their figures were measured to the µs


class ReadableLogLocator(LogLocator):
    """Log-axis ticks of which at least `at_least` fall inside the view, with labels that fit
    side by side: powers of the base where the view spans enough of them, else 1-2-5 of each
    decade, else every multiple of it, else evenly spaced round numbers (an axis that narrow is
    as good as linear). A tick is never finer than `resolution`, the unit the figures were
    measured in, so no label has a digit the measurement has not."""

    def __init__(
        self, base: float = 10, resolution: float | None = None, at_least: int = READABLE
    ) -> None:
        super().__init__(base=base)
        self.log_base = base
        self.resolution = resolution
        self.at_least = at_least

    def tick_values(self, vmin: float, vmax: float) -> Any:
        low, high = sorted((vmin, vmax))
        if high <= 0:
            return np.array([])
        low = max(low, high * 1e-12)
        fitting = []
        for ticks in self._candidates(low, high):
            ticks = self._measurable(ticks)
            inside = ticks[(ticks >= low * (1 - 1e-9)) & (ticks <= high * (1 + 1e-9))]
            if len(inside) >= self.at_least and self._fits(inside, low, high):
                return ticks
            fitting.append((len(inside) >= self.at_least, -len(inside), ticks))
        # none both enough and fitting: the fewest that are enough, else the most there are
        enough = [(n, t) for ok, n, t in fitting if ok]
        if enough:
            return max(enough, key=lambda pair: pair[0])[1]
        return min(fitting, key=lambda row: row[1])[2] if fitting else np.array([])

    def _candidates(self, low: float, high: float) -> Any:
        """Tick sets, the likeliest first: powers (every one, then every other...), 1-2-5 of
        each decade, 1-3, 1 to 9, then evenly spaced from the fewest."""
        base = self.log_base
        first = math.floor(math.log(low, base)) - 1
        last = math.ceil(math.log(high, base)) + 1
        for stride in (1, 2, 3, 5, 10):
            for offset in range(stride):
                yield np.array([base**k for k in range(first, last + 1) if k % stride == offset])
        decades = range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 2)
        for subs in ((1, 2, 5), (1, 3), tuple(range(1, 10))):
            yield np.array([m * 10.0**d for d in decades for m in subs])
        linear = [
            np.asarray(MaxNLocator(nbins=bins, steps=[1, 2, 4, 5, 10]).tick_values(low, high))
            for bins in range(2, 10)
        ]
        yield from linear
        for ticks in linear:  # every other one: 16, 24, 32 where 16, 20 ... 32 are too close
            yield from (ticks[0::2], ticks[1::2])

    def _measurable(self, ticks: Any) -> Any:
        """The positive ticks that are whole multiples of the resolution."""
        ticks = np.asarray(ticks, dtype=float)
        ticks = ticks[ticks > 0]
        if not self.resolution:
            return ticks
        units = ticks / self.resolution
        return ticks[np.abs(units - np.round(units)) < 1e-6 * np.maximum(units, 1)]

    def _fits(self, inside: Any, low: float, high: float) -> bool:
        """Whether the labels, in plain numbers, stand apart on the axis as drawn now (a
        digit is about 0.64 of the font's size, a comma or point half that)."""
        axis = self.axis
        if not isinstance(axis, Axis) or axis.axes is None or len(inside) < 2:
            return True
        vertical = axis is axis.axes.yaxis
        box = axis.axes.bbox
        length = box.height if vertical else box.width
        points = float(axis.get_major_ticks(1)[0].label1.get_fontsize())
        font = points * axis.axes.figure.dpi / 72
        scaled = axis.get_transform().transform(np.array([low, high, *inside]))
        where = (scaled[2:] - scaled[0]) / (scaled[1] - scaled[0]) * length
        if vertical:
            return bool(np.all(np.diff(where) >= 1.3 * font))
        width = [
            font * sum(0.64 if c.isdigit() else 0.34 for c in plain_number(t, self.resolution))
            for t in inside
        ]
        gaps = np.diff(where) - (np.array(width[:-1]) + np.array(width[1:])) / 2
        return bool(np.all(gaps >= 0.6 * font))


def plain_number(value: float, resolution: float | None = None) -> str:
    """1, 20, 0.5, 1,000 (not 10^3, nor 2x10^1), rounded to the resolution measured."""
    if resolution:
        value = round(value, max(0, math.ceil(-math.log10(resolution) - 1e-9)))
    return f"{value:,.10g}"


def plain_log_axis(
    axis, resolution: float | None = None, base: float = 10, at_least: int = READABLE
) -> None:
    """A log axis with at least `at_least` labelled ticks in plain numbers (ReadableLogLocator),
    and no minor labels to overlap them; call it after the axis is made log."""
    axis.set_major_locator(ReadableLogLocator(base, resolution, at_least))
    axis.set_major_formatter(FuncFormatter(lambda value, _: plain_number(value, resolution)))
    axis.set_minor_formatter(NullFormatter())


def whole_counts(axis) -> None:
    """A linear axis of counts (zombies, descriptors, failed requests): whole-number ticks from
    0, and at least up to 2, so that a flat line at 0 or 1 still reads against 0, 1, 2."""
    axis.set_major_locator(MaxNLocator(integer=True))
    low, high = sorted(axis.get_view_interval())
    limits = (min(low, 0), max(high, 2))
    set_limits = axis.axes.set_ylim if axis is axis.axes.yaxis else axis.axes.set_xlim
    set_limits(*(limits[::-1] if axis.get_inverted() else limits))


def server_style(server: str) -> dict:
    """The same colour and marker for a server in every chart of every run."""
    names = list(SERVERS)
    index = names.index(server) if server in names else len(names) + sum(map(ord, server))
    return {"color": PALETTE[index % len(PALETTE)], "marker": MARKERS[index % len(MARKERS)]}


def subtitle(run: RunRecord) -> str:
    meta = run.metadata
    return conditions(
        run.settings.duration_s, run.settings.warmup_s, meta.cpu_count, meta.cpu_model, meta.commit
    ) + ("" if run.status == "complete" else f" — {run.status.upper()} RUN")


def conditions(
    duration_s: float, warmup_s: float, cpu_count: int | None, cpu_model: str, commit: str
) -> str:
    """What every chart's title says of how its figures were measured."""
    return (
        f"{duration_s:g} s per cell after {warmup_s:g} s warm-up; "
        f"{cpu_count} CPUs ({cpu_model}); commit {commit[:8]}"
    )


def _error_bars(estimates: list, scale: float = 1.0) -> list[list[float]]:
    """matplotlib's yerr from Estimates: the distances from the median to the interval's ends."""
    return [
        [(e.median - e.low) * scale for e in estimates],
        [(e.high - e.median) * scale for e in estimates],
    ]


def _legend_outside(fig: Figure, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right center", frameon=False, fontsize=8)


# throughput --------------------------------------------------------------------------------------


def _panel_per_level(run: RunRecord) -> tuple[list[tuple[str, int]], Figure, Any]:
    """The top levels, and a figure with a panel for each, a row per server."""
    levels = top_levels(run) or [("none", 0)]
    fig, axes = plt.subplots(
        1,
        len(levels),
        figsize=(4.4 * len(levels), 0.42 * len(servers_in(run)) + 1.8),
        squeeze=False,
        layout="constrained",
    )
    return levels, fig, axes


def _dots(ax, rows: list[tuple[str, Estimate, bool]], gid: str, wrk: dict | None = None) -> None:
    """One row per server: the median as a dot, its interval as a line, hollow when the
    generator set the figure; wrk's figure as a cross where it measured the cell."""
    for y, (server, estimate, bound) in enumerate(rows):
        style = server_style(server)
        ax.plot([estimate.low, estimate.high], [y, y], color=style["color"], linewidth=2, alpha=0.6)
        ax.plot(
            [estimate.median],
            [y],
            linestyle="none",
            marker=style["marker"],
            markersize=8,
            color=style["color"],
            markerfacecolor="white" if bound else style["color"],
            gid=f"{gid}|{server}",
        )
        if wrk and wrk.get(server):
            ax.plot(
                [wrk[server]],
                [y],
                linestyle="none",
                marker="x",
                markersize=9,
                color="black",
                gid=f"wrk|{gid}|{server}",
            )
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([server for server, _, _ in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)


def throughput_chart(run: RunRecord) -> Figure:
    """Per workload at its highest concurrency: each server's median throughput over its runs,
    the line its interval (range below 6 runs), hollow where locust's own CPU set the figure
    (generator-bound: the server is at least that fast), a cross where wrk measured it too."""
    summaries = closed_summaries(run)
    levels, fig, axes = _panel_per_level(run)
    for ax, (workload, users) in zip(axes[0], levels, strict=True):
        mine = [
            summary
            for (server, w, u, mode), summary in summaries.items()
            if (w, u, mode) == (workload, users, "keepalive")
        ]
        mine.sort(key=lambda s: -s.throughput.median)
        rows = [(s.server, s.throughput, s.generator_bound) for s in mine]
        wrk = {s.server: s.wrk.median for s in mine if s.wrk.n}
        _dots(ax, rows, f"throughput|{workload}", wrk)
        runs = max((s.n for s in mine), default=0)
        ax.set_title(
            f"{workload}, {users} users ({runs} run{'s' if runs != 1 else ''} at most)", fontsize=9
        )
        ax.set_xscale("log")
        plain_log_axis(ax.xaxis)
        ax.set_xlabel("requests/s")
        ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.suptitle(
        "Throughput per server: a dot is the median of its runs, a line their range (a 95 % "
        "interval from 6 runs); hollow: generator-bound, the server is at least that fast; "
        "x: wrk on the same cell\n" + subtitle(run),
        fontsize=9,
    )
    return fig


def concurrency_chart(run: RunRecord) -> Figure:
    """One panel per workload; one line per server and mode (the median over repetitions),
    against the users; generator-bound points hollow. Drawn when a run has several levels."""
    workloads = list(dict.fromkeys(c.workload for c in ok_cells(run))) or ["none"]
    summaries = closed_summaries(run)
    fig, axes = plt.subplots(
        1, len(workloads), figsize=(4.2 * len(workloads), 4.2), squeeze=False, layout="constrained"
    )
    for ax, workload in zip(axes[0], workloads, strict=True):
        for server in servers_in(run):
            for mode in ("keepalive", "close"):
                points = sorted(
                    (users, summary.throughput.median, summary.generator_bound)
                    for (s, w, users, m), summary in summaries.items()
                    if s == server and w == workload and m == mode
                )
                if not points:
                    continue
                style = server_style(server)
                ax.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    marker=style["marker"],
                    color=style["color"],
                    linestyle="--" if mode == "close" else "-",
                    label=server if mode == "keepalive" else f"{server} (new connection)",
                    gid=f"{server}|{mode}",
                )
                bound = [p for p in points if p[2]]
                if bound:
                    ax.scatter(
                        [p[0] for p in bound],
                        [p[1] for p in bound],
                        s=110,
                        facecolors="white",
                        edgecolors=style["color"],
                        zorder=3,
                        linewidths=1.5,
                        gid=f"bound|{server}|{mode}",
                    )
        ax.set_title(workload)
        ax.set_xscale("log", base=2)
        plain_log_axis(ax.xaxis, resolution=1, base=2)  # users: 1, 2, 4 ... whole numbers
        ax.set_yscale("log")
        plain_log_axis(ax.yaxis)
        ax.set_xlabel("concurrent users (closed loop)")
        ax.set_ylabel("throughput (requests/s)")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(
        "Throughput vs concurrency: medians over repetitions (hollow: generator-bound)\n"
        + subtitle(run),
        fontsize=9,
    )
    _legend_outside(fig, axes[0][0])
    return fig


# latency --------------------------------------------------------------------------------------


def spectrum_values(cell: CellRecord) -> list[tuple[float, float]]:
    """(percentile, latency in ms) along SPECTRUM, from the cell's stored histogram: only the
    percentiles its number of answers holds (has_percentile)."""
    assert cell.load is not None
    histogram = HdrHistogram.decode(cell.load.histogram.encode("ascii"))
    count = histogram.get_total_count()
    return [
        (p, histogram.get_value_at_percentile(p) / 1000)
        for p in SPECTRUM
        if has_percentile(count, p)
    ]


def latency_spectrum_chart(
    run: RunRecord, workload: str, users: int, mode: str = "keepalive"
) -> Figure:
    """HdrHistogram-style percentile spectrum: latency against 1/(1-p) on a log axis."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for cell in ok_cells(run):
        if (cell.workload, cell.users, cell.mode, cell.repetition) != (
            workload,
            users,
            mode,
            1,
        ) or not (cell.load and cell.load.histogram):
            continue
        values = spectrum_values(cell)
        if not values:
            continue
        style = server_style(cell.server)
        ax.plot(
            [1 / (1 - p / 100) for p, _ in values],
            [v for _, v in values],
            markersize=4,
            label=cell.server + (" (generator-bound)" if cell.generator_bound else ""),
            gid=cell.server,
            **style,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([1 / (1 - p / 100) for p in (50, 90, 99, 99.9, 99.99)])
    ax.set_xticklabels(["p50", "p90", "p99", "p99.9", "p99.99"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms, measured in µs)")
    ax.grid(True, which="both", alpha=0.3)
    plain_log_axis(ax.yaxis, resolution=MS_MEASURED_IN_US)
    ax.set_title(
        f"Latency spectrum: {workload}, {users} users, {mode}, first run of each server\n"
        f"(a line ends where fewer than {BEYOND} answers lie past the next percentile)\n"
        f"{subtitle(run)}",
        fontsize=9,
    )
    _legend_outside(fig, ax)
    return fig


def latency_chart(run: RunRecord) -> Figure:
    """Per workload at its highest concurrency: each server's p50 (filled) and p99 (hollow),
    medians over its runs with their range, on a log axis; a p99 only where every run had the
    answers to hold one (has_percentile)."""
    summaries = closed_summaries(run)
    levels, fig, axes = _panel_per_level(run)
    counts = _answer_counts(run)
    for ax, (workload, users) in zip(axes[0], levels, strict=True):
        mine = sorted(
            (
                summary
                for (server, w, u, mode), summary in summaries.items()
                if (w, u, mode) == (workload, users, "keepalive")
            ),
            key=lambda s: s.p50.median,
        )
        for y, summary in enumerate(mine):
            style = server_style(summary.server)
            shown = [("p50", summary.p50, style["color"])]
            if all(has_percentile(n, 99) for n in counts[(summary.server, workload, users)]):
                shown.append(("p99", summary.p99, "white"))
            for name, estimate, face in shown:
                ax.plot(
                    [estimate.low / 1000, estimate.high / 1000],
                    [y, y],
                    color=style["color"],
                    alpha=0.5,
                    linewidth=2,
                )
                ax.plot(
                    [estimate.median / 1000],
                    [y],
                    linestyle="none",
                    marker=style["marker"],
                    markersize=8,
                    color=style["color"],
                    markerfacecolor=face,
                    gid=f"{name}|{workload}|{summary.server}",
                )
        ax.set_yticks(range(len(mine)))
        ax.set_yticklabels([s.server for s in mine])
        ax.set_ylim(len(mine) - 0.5, -0.5)
        ax.set_xscale("log")
        plain_log_axis(ax.xaxis, resolution=MS_MEASURED_IN_US)
        ax.set_title(f"{workload}, {users} users", fontsize=9)
        ax.set_xlabel("latency (ms): p50 filled, p99 hollow")
        ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.suptitle(
        f"Latency per server, medians over runs with their range (p99 only from "
        f"{int(BEYOND / 0.01):,} answers a run)\n{subtitle(run)}",
        fontsize=9,
    )
    return fig


def _answer_counts(run: RunRecord) -> dict[tuple, list[int]]:
    """Answers per run, by (server, workload, users), closed loop, keep-alive."""
    counts: dict[tuple, list[int]] = defaultdict(list)
    for cell in ok_cells(run):
        if cell.mode == "keepalive" and cell.load:
            counts[(cell.server, cell.workload, cell.users)].append(cell.load.requests)
    return counts


OPEN_PERCENTILE = 90  # the open loop's chart: held from 100 requests due (has_percentile)


def open_loop_rows(run: RunRecord) -> list[dict]:
    """Per open-loop cell (first repetition): its percentiles over every request due, counted
    from the due time (None: more than the drain limit, the request never answered in time),
    the same requests' latency from their actual send, the closed loop's at the same users, and
    the generator's own lag from due time to send."""
    closed = {
        (c.server, c.workload, c.users, c.mode): c for c in ok_cells(run) if c.repetition == 1
    }
    rows = []
    for cell in open_cells(run):
        load = cell.load
        if cell.repetition != 1 or load is None:
            continue
        twin = closed.get((cell.server, cell.workload, cell.users, cell.mode))
        twin_load = twin.load if twin else None
        due = load.due or load.requests + sum(load.failures.values())
        service = load.service_latency_us or Percentiles()
        lag = load.send_lag_us or Percentiles()
        rows.append(
            {
                "server": cell.server,
                "workload": cell.workload,
                "users": cell.users,
                "rate": cell.rate,
                "throughput": load.throughput,
                "due": due,
                "answered": load.requests,
                "censored": load.censored or 0,
                "limit_us": load.censored_above_us or 0.0,
                "corrected": {p: load.latency_us.at(f"p{p:g}") for p in (50, 90, 99)},
                "uncorrected": {p: service.at(f"p{p:g}") for p in (50, 90, 99)},
                "closed": {
                    p: twin_load.latency_us.at(f"p{p:g}") if twin_load else None
                    for p in (50, 90, 99)
                },
                "closed_answers": twin_load.requests if twin_load else 0,
                "send_lag_p99": lag.p99,
                "send_lag_p50": lag.p50,
                "behind": load.failures.get(BEHIND, 0),
                "failed": sum(load.failures.values()),
            }
        )
    return rows


def open_loop_chart(run: RunRecord) -> Figure:
    """Coordinated omission made visible: per server, the open loop's p90 over every request due,
    counted from its due time (a triangle at the limit: more than that, never answered in time),
    the same requests timed from their actual send, and the closed loop's p90."""
    rows = open_loop_rows(run)
    p = OPEN_PERCENTILE
    fig, ax = plt.subplots(figsize=(8, 0.42 * max(len(rows), 2) + 1.8), layout="constrained")
    kinds = (
        ("corrected", "open loop, from the due time (corrected)", "o", True),
        ("uncorrected", "open loop, from the actual send (uncorrected)", "s", False),
        ("closed", "closed loop, same users", "D", False),
    )
    for y, row in enumerate(rows):
        color = server_style(row["server"])["color"]
        for key, _, marker, filled in kinds:
            value = row[key][p]
            if key == "corrected" and value is None:  # censored: more than the limit
                ax.plot(
                    [row["limit_us"] / 1000],
                    [y],
                    marker=">",
                    markersize=10,
                    color=color,
                    linestyle="none",
                    gid=f"censored|{row['server']}",
                )
                continue
            if value is None:
                continue
            ax.plot(
                [value / 1000],
                [y],
                marker=marker,
                markersize=8,
                linestyle="none",
                color=color,
                markerfacecolor=color if filled else "white",
                gid=f"{key}|{row['server']}",
            )
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r['server']} ({r['workload']}, {r['rate']:g}/s)" for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xscale("log")
    plain_log_axis(ax.xaxis, resolution=MS_MEASURED_IN_US)
    ax.set_xlabel(f"p{p} latency (ms, measured in µs)")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.set_title(
        f"Open loop: p{p} from the due time (filled; a triangle: more than the limit),\n"
        f"the same requests from their send, and the closed loop's p{p}\n{subtitle(run)}",
        fontsize=9,
    )
    if rows:
        _open_loop_legend(ax, kinds)
    return fig


def _open_loop_legend(ax, kinds: tuple[tuple[str, str, str, bool], ...]) -> None:
    """The open-loop chart's legend below it: a marker per kind of figure, and the limit's."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            marker=m,
            color="grey",
            linestyle="none",
            markerfacecolor="grey" if f else "white",
            label=label,
        )
        for _, label, m, f in kinds
    ]
    handles.append(
        Line2D(
            [],
            [],
            marker=">",
            color="grey",
            linestyle="none",
            label="never answered in time: more than the limit",
        )
    )
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18),
        fontsize=8,
        ncol=2,
        frameon=False,
    )


# descriptors and zombies over time ------------------------------------------------------------


def over_time_chart(run: RunRecord, fields: tuple[str, ...], title: str) -> Figure:
    """For each server, two telemetry series against time, the load window shaded."""
    cells = telemetry_cells(run)
    count = max(len(cells), 1)
    columns = min(count, 4)
    rows = (count + columns - 1) // columns
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(3.4 * columns, 2.6 * rows),
        squeeze=False,
        layout="constrained",
        sharex=False,
    )
    labels = {
        "parent_fds": "parent's open descriptors",
        "zombies": "zombies",
        "children": "live children",
        "rss_bytes": "RSS (MiB)",
    }
    for ax in axes.flat[len(cells) :]:
        ax.axis("off")
    for ax, cell in zip(axes.flat, cells, strict=False):
        assert cell.telemetry is not None
        series = cell.telemetry.series
        if cell.window:
            ax.axvspan(cell.window.load_start, cell.window.start, color="0.95", label="warm-up")
            ax.axvspan(cell.window.start, cell.window.end, color="0.85", label="measured window")
        color = server_style(cell.server)["color"]
        for field_name, style in zip(fields, ("-", "--", ":"), strict=False):
            values = getattr(series, field_name) or []
            if field_name == "rss_bytes":
                values = [v / 2**20 for v in values]
            ax.plot(
                series.t,
                values,
                color=color,
                linestyle=style,
                label=labels[field_name],
                gid=f"{cell.server}|{field_name}",
            )
        verdict = cell.leak.verdict if cell.leak else "unknown"
        ax.set_title(f"{cell.server} ({cell.workload}, {cell.users}u): {verdict}", fontsize=8)
        ax.set_xlabel("seconds (pale: warm-up, grey: window; after it: until at rest)", fontsize=7)
        ax.tick_params(labelsize=7)
        whole_counts(ax.yaxis)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{title}\n{subtitle(run)}", fontsize=9)
    if cells:
        handles, names = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncol=5, frameon=False, fontsize=8)
    return fig


def process_tree_chart(run: RunRecord) -> Figure:
    """Per server, its most loaded cell over time: the parent's descriptors, the zombies and
    the live children (one chart for the three: each panel's axes cost the report's time)."""
    return over_time_chart(
        run,
        ("parent_fds", "zombies", "children"),
        "The parent's open descriptors (solid), zombies (dashed) and live children (dotted) "
        "over time",
    )


# efficiency and errors --------------------------------------------------------------------------


def core_demand(run: RunRecord) -> dict[tuple[str, str], float]:
    """The median busy time of the server's CPU core per request, by (server, workload), over
    the closed-loop cells at each workload's highest concurrency."""
    found: dict[tuple[str, str], list[float]] = defaultdict(list)
    levels = top_levels(run)
    for cell in ok_cells(run):
        core = cell.service_demand.core_us_per_request if cell.service_demand else None
        if core and (cell.workload, cell.users) in levels and cell.mode == "keepalive":
            found[(cell.server, cell.workload)].append(core)
    return {key: sorted(values)[len(values) // 2] for key, values in found.items()}


def efficiency_chart(run: RunRecord) -> Figure:
    """Per server: its service demand (the server's CPU µs per request over the window, the
    median over its cells at each workload's highest concurrency), and the tree's peak memory
    per connection (user) at its most users, each page counted once (its cgroup, or PSS).
    Linear axes: a bar's length is its value."""
    levels = top_levels(run)
    summaries = [
        s
        for s in summarise(run.cells)
        if not s.rate and s.mode == "keepalive" and (s.workload, s.users) in levels and s.demand.n
    ]
    workloads = list(dict.fromkeys(s.workload for s in summaries)) or ["none"]
    servers = [s for s in servers_in(run) if any(x.server == s for x in summaries)]
    fig, axes = plt.subplots(
        1,
        len(workloads) + 1,
        figsize=(3.6 * (len(workloads) + 1), 0.4 * len(servers) + 1.8),
        squeeze=False,
        layout="constrained",
        sharey=True,
    )
    core = core_demand(run)
    for ax, workload in zip(axes[0], workloads, strict=False):
        demand = {s.server: s.demand.median for s in summaries if s.workload == workload}
        ax.barh(
            servers,
            [core.get((server, workload), 0) for server in servers],
            color="none",
            edgecolor="0.3",
            linestyle="--",
            gid=f"core|{workload}",
        )
        ax.barh(
            servers,
            [demand.get(server, 0) for server in servers],
            color=[server_style(server)["color"] for server in servers],
            gid=f"demand|{workload}",
        )
        ax.set_title(workload, fontsize=9)
        ax.set_xlabel("server CPU µs per request\n(dashed: its CPU core's busy time)")
        ax.grid(True, axis="x", alpha=0.3)
    memory, methods = {}, set()
    for server in servers:
        mine = [c.memory for c in sorted(ok_cells(run, server), key=lambda c: -c.users) if c.memory]
        if mine:
            memory[server] = mine[0].peak_per_user_bytes / 1024
            methods.add("cgroup" if "cgroup" in mine[0].method else "PSS")
    right = axes[0][-1]
    right.barh(
        servers,
        [memory.get(s, 0) for s in servers],
        color=[server_style(s)["color"] for s in servers],
        gid="memory",
    )
    right.set_xlabel(
        f"peak memory of the tree per user (KiB),\neach page once ({', '.join(sorted(methods))})"
    )
    right.grid(True, axis="x", alpha=0.3)
    axes[0][0].invert_yaxis()
    fig.suptitle(
        "Efficiency: the server's CPU per request over the window (its whole tree), and memory\n"
        + subtitle(run),
        fontsize=9,
    )
    return fig


def errors_chart(run: RunRecord) -> Figure:
    """Failures by kind per server and workload, and cells that failed outright."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for cell in run.cells:
        row = f"{cell.server} / {cell.workload}"
        if cell.status == "failed":
            counts[row]["cell failed"] += 1
        if cell.load:
            for kind, number in cell.load.failures.items():
                counts[row][kind] += number
    rows = [r for r in counts if sum(counts[r].values())]
    kinds = sorted({k for r in rows for k in counts[r]})
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(rows) + 1.5)), layout="constrained")
    left = [0] * len(rows)
    for index, kind in enumerate(kinds):
        values = [counts[r].get(kind, 0) for r in rows]
        ax.barh(
            rows,
            values,
            left=left,
            label=kind,
            color=PALETTE[index % len(PALETTE)],
            gid=f"kind|{kind}",
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    if not rows:
        ax.text(
            0.5, 0.5, "no failures in this run", ha="center", va="center", transform=ax.transAxes
        )
        ax.set_yticks([])
    ax.invert_yaxis()
    whole_counts(ax.xaxis)
    ax.set_xlabel("failed requests (and failed cells)")
    ax.set_title(f"Errors by kind\n{subtitle(run)}", fontsize=9)
    if kinds:
        ax.legend(loc="lower right", fontsize=8)
    return fig


def all_charts(run: RunRecord) -> dict[str, Figure]:
    """Every chart of a run, by file stem."""
    charts = {"throughput": throughput_chart(run)}
    cells = ok_cells(run)
    if len({c.users for c in cells}) > 1:
        charts["concurrency"] = concurrency_chart(run)
    if cells:
        charts["latency"] = latency_chart(run)
        for workload, users in top_levels(run):
            charts[f"latency-{workload}"] = latency_spectrum_chart(run, workload, users)
    if open_cells(run):
        charts["open-loop"] = open_loop_chart(run)
    charts["process-tree"] = process_tree_chart(run)
    charts["efficiency"] = efficiency_chart(run)
    charts["errors"] = errors_chart(run)
    return charts


# micro-benchmarks -------------------------------------------------------------------------------


def micro_rows(micro: dict) -> list[tuple[str, str, float, float]]:
    """(group, name, median µs, IQR µs) per benchmark of a pytest-benchmark JSON."""
    found = []
    for bench in micro.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        name = info.get("model") or info.get("implementation") or bench["name"]
        found.append(
            (bench["group"], name, bench["stats"]["median"] * 1e6, bench["stats"]["iqr"] * 1e6)
        )
    return found


def micro_chart(micro: dict) -> Figure:
    """Median time per model (a dot) with its interquartile range (a line), one panel per
    benchmark group, on a log axis labelled in plain numbers."""
    rows = micro_rows(micro)
    groups = list(dict.fromkeys(r[0] for r in rows)) or ["none"]
    fig, axes = plt.subplots(
        1, len(groups), figsize=(4.4 * len(groups), 4.2), squeeze=False, layout="constrained"
    )
    for ax, group in zip(axes[0], groups, strict=True):
        mine = sorted((r for r in rows if r[0] == group), key=lambda r: r[2])
        for y, (_, name, median, iqr) in enumerate(mine):
            color = server_style(name)["color"] if name in SERVERS else "0.4"
            ax.plot(
                [max(median - iqr / 2, 1e-3), median + iqr / 2],
                [y, y],
                color=color,
                linewidth=2,
                alpha=0.6,
            )
            ax.plot(
                [median],
                [y],
                marker="o",
                markersize=7,
                color=color,
                linestyle="none",
                gid=f"micro|{group}|{name}",
            )
        ax.set_yticks(range(len(mine)))
        ax.set_yticklabels([r[1] for r in mine])
        ax.set_ylim(len(mine) - 0.5, -0.5)
        ax.set_xscale("log")
        plain_log_axis(ax.xaxis)
        ax.set_xlabel("median µs (line: interquartile range)")
        ax.set_title(group, fontsize=9)
        ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.suptitle("Micro-benchmarks (pytest-benchmark, perf_counter)", fontsize=9)
    return fig
