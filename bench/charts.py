"""Charts: matplotlib figures drawn from a stored run.json and nothing else.

Every function takes the run document and returns a Figure (tests read the plotted data back),
so any stored run can be drawn again without rerunning it. One colour per server in every chart,
from a colour-blind-safe palette, with line styles for servers past its ten colours.
"""

from __future__ import annotations

from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # no screen: files only

import matplotlib.pyplot as plt
from hdrh.histogram import HdrHistogram
from matplotlib.figure import Figure

from bench.load import BEHIND
from bench.plan import SERVERS
from bench.stats import Summary, summarise

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


def server_style(server: str) -> dict:
    """The same colour and marker for a server in every chart of every run."""
    names = list(SERVERS)
    index = names.index(server) if server in names else len(names) + sum(map(ord, server))
    return {"color": PALETTE[index % len(PALETTE)], "marker": MARKERS[index % len(MARKERS)]}


def ok_cells(run: dict) -> list[dict]:
    """The closed-loop cells that ran to the end (open-loop cells have a chart of their own)."""
    return [c for c in run["cells"] if c["status"] == "ok" and c["load"] and not c.get("rate")]


def open_cells(run: dict) -> list[dict]:
    return [c for c in run["cells"] if c["status"] == "ok" and c["load"] and c.get("rate")]


def servers_in(run: dict) -> list[str]:
    """Servers in catalogue order (the legend order everywhere)."""
    seen = {c["server"] for c in run["cells"]}
    return [s for s in SERVERS if s in seen] + sorted(seen - set(SERVERS))


def subtitle(run: dict) -> str:
    meta = run["metadata"]
    settings = meta["settings"]
    partial = "" if run["status"] == "complete" else f" — {run['status'].upper()} RUN"
    return (
        f"{settings['duration_s']:g} s per cell after {settings['warmup_s']:g} s warm-up; "
        f"{meta['cpu_count']} CPUs ({meta['cpu_model']}); commit {meta['commit'][:8]}"
        f"{partial}"
    )


def closed_summaries(run: dict) -> dict[tuple, Summary]:
    """Medians and 95 % intervals over repetitions, by (server, workload, users, mode)."""
    return {(s.server, s.workload, s.users, s.mode): s for s in summarise(run) if not s.rate}


def _error_bars(estimates: list, scale: float = 1.0) -> list[list[float]]:
    """matplotlib's yerr from Estimates: the distances from the median to the interval's ends."""
    return [
        [(e.median - e.low) * scale for e in estimates],
        [(e.high - e.median) * scale for e in estimates],
    ]


def _legend_outside(fig: Figure, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(
            handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8
        )


# throughput vs concurrency ----------------------------------------------------------------------


def throughput_chart(run: dict) -> Figure:
    """One panel per workload; one line per server and mode (the median over repetitions, with
    its 95 % interval as error bars); generator-bound points hollow."""
    workloads = list(dict.fromkeys(c["workload"] for c in run["cells"])) or ["none"]
    summaries = closed_summaries(run)
    fig, axes = plt.subplots(
        1, len(workloads), figsize=(4.2 * len(workloads), 4.2), squeeze=False, layout="constrained"
    )
    for ax, workload in zip(axes[0], workloads, strict=True):
        for server in servers_in(run):
            for mode in ("keepalive", "close"):
                points = sorted(
                    (users, summary.throughput.median, summary.generator_bound, summary)
                    for (s, w, users, m), summary in summaries.items()
                    if s == server and w == workload and m == mode
                )
                if not points:
                    continue
                style = server_style(server)
                label = server if mode == "keepalive" else f"{server} (new connection)"
                ax.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    marker=style["marker"],
                    color=style["color"],
                    linestyle="--" if mode == "close" else "-",
                    label=label,
                    gid=f"{server}|{mode}",
                )
                if any(p[3].n > 1 for p in points):
                    ax.errorbar(
                        [p[0] for p in points],
                        [p[1] for p in points],
                        yerr=_error_bars([p[3].throughput for p in points]),
                        fmt="none",
                        ecolor=style["color"],
                        capsize=3,
                        label=f"_interval|{server}|{mode}",  # "_": not in the legend
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
        ax.set_title(f"{workload}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("concurrent users (locust, closed loop)")
        ax.set_ylabel("throughput (requests/s)")
        ax.grid(True, which="both", alpha=0.3)
    for mode, ceiling in (run.get("generator_ceiling") or {}).items():
        if ceiling.get("throughput"):
            for ax in axes[0]:
                ax.axhline(
                    ceiling["throughput"],
                    color="grey",
                    linewidth=1,
                    linestyle=":" if mode == "keepalive" else "-.",
                )
    fig.suptitle(
        "Throughput vs concurrency: median over repetitions, bars its 95 % interval (hollow "
        "circle: generator-bound, dotted line: the load generator's ceiling)\n" + subtitle(run),
        fontsize=9,
    )
    _legend_outside(fig, axes[0][0])
    return fig


# latency --------------------------------------------------------------------------------------


def spectrum_values(cell: dict) -> list[tuple[float, float]]:
    """(percentile, latency in ms) along SPECTRUM, from the cell's stored histogram."""
    histogram = HdrHistogram.decode(cell["load"]["histogram"].encode("ascii"))
    return [(p, histogram.get_value_at_percentile(p) / 1000) for p in SPECTRUM]


def latency_spectrum_chart(run: dict, workload: str, users: int, mode: str = "keepalive") -> Figure:
    """HdrHistogram-style percentile spectrum: latency against 1/(1-p) on a log axis."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for cell in ok_cells(run):
        if (cell["workload"], cell["users"], cell["mode"], cell["repetition"]) != (
            workload,
            users,
            mode,
            1,
        ) or not cell["load"]["histogram"]:
            continue
        values = spectrum_values(cell)
        style = server_style(cell["server"])
        ax.plot(
            [1 / (1 - p / 100) for p, _ in values],
            [v for _, v in values],
            markersize=4,
            label=cell["server"] + (" (generator-bound)" if cell["generator_bound"] else ""),
            gid=cell["server"],
            **style,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([1 / (1 - p / 100) for p in (50, 90, 99, 99.9, 99.99)])
    ax.set_xticklabels(["p50", "p90", "p99", "p99.9", "p99.99"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms, measured in µs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(
        f"Latency spectrum: {workload}, {users} users, {mode}\n{subtitle(run)}", fontsize=9
    )
    _legend_outside(fig, ax)
    return fig


def latency_bars_chart(run: dict, users: int) -> Figure:
    """p50 and p99 per server (medians over repetitions, with their 95 % intervals), one group
    of bars per workload, at one concurrency level."""
    summaries = {
        (server, workload): summary
        for (server, workload, level, mode), summary in closed_summaries(run).items()
        if level == users and mode == "keepalive"
    }
    workloads = list(dict.fromkeys(w for _, w in summaries)) or ["none"]
    servers = [s for s in servers_in(run) if any(server == s for server, _ in summaries)]
    fig, axes = plt.subplots(
        1, len(workloads), figsize=(4.2 * len(workloads), 4.2), squeeze=False, layout="constrained"
    )
    width = 0.8 / max(len(servers), 1)
    for ax, workload in zip(axes[0], workloads, strict=True):
        for index, server in enumerate(servers):
            summary = summaries.get((server, workload))
            if summary is None:
                continue
            x = index * width
            color = server_style(server)["color"]
            for estimate, name, alpha in ((summary.p99, "p99", 0.35), (summary.p50, "p50", 1.0)):
                ax.bar(
                    x,
                    estimate.median / 1000,
                    width,
                    color=color,
                    alpha=alpha,
                    label=server if name == "p50" else None,
                    gid=f"{name}|{server}",
                    yerr=_error_bars([estimate], 1 / 1000) if summary.n > 1 else None,
                    error_kw={"elinewidth": 0.8, "capsize": 2},
                )
        ax.set_yscale("log")
        ax.set_xticks([])
        ax.set_title(workload)
        ax.set_ylabel("latency (ms): p50 solid, p99 pale")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.suptitle(f"p50 and p99 latency at {users} users, keep-alive\n{subtitle(run)}", fontsize=9)
    _legend_outside(fig, axes[0][0])
    return fig


def open_loop_rows(run: dict) -> list[dict]:
    """Per open-loop cell (first repetition): its p99 from the intended send time, from the
    actual send, and the closed-loop p99 of the same server, workload and users."""
    closed = closed_summaries(run)
    rows = []
    for cell in open_cells(run):
        if cell["repetition"] != 1 or not cell["load"]["latency_us"]:
            continue
        twin = closed.get((cell["server"], cell["workload"], cell["users"], cell["mode"]))
        rows.append(
            {
                "server": cell["server"],
                "workload": cell["workload"],
                "users": cell["users"],
                "rate": cell["rate"],
                "throughput": cell["load"]["throughput"],
                "intended_p50": cell["load"]["latency_us"]["p50"],
                "intended_p99": cell["load"]["latency_us"]["p99"],
                "service_p99": (cell["load"].get("service_latency_us") or {}).get("p99"),
                "closed_p99": twin.p99.median if twin else None,
                "behind": cell["load"]["failures"].get(BEHIND, 0),
                "failed": sum(cell["load"]["failures"].values()),
            }
        )
    return rows


def open_loop_chart(run: dict) -> Figure:
    """Coordinated omission made visible: per server, the open-loop p99 counted from the
    intended send time, the same requests timed from their actual send, and the closed loop's."""
    rows = open_loop_rows(run)
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(rows), 2) + 1.6), layout="constrained")
    bars = (
        ("intended_p99", "open loop, from the intended send (corrected)", 1.0),
        ("service_p99", "open loop, from the actual send (uncorrected)", 0.55),
        ("closed_p99", "closed loop, same users", 0.25),
    )
    height = 0.8 / len(bars)
    for index, row in enumerate(rows):
        color = server_style(row["server"])["color"]
        for offset, (key, _, alpha) in enumerate(bars):
            if row[key] is None:
                continue
            ax.barh(
                index + offset * height,
                row[key] / 1000,
                height,
                color=color,
                alpha=alpha,
                gid=f"{key}|{row['server']}",
            )
    ax.set_yticks([i + height for i in range(len(rows))])
    ax.set_yticklabels([f"{r['server']} ({r['workload']}, {r['rate']:g}/s)" for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("p99 latency (ms, measured in µs)")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.set_title(
        "Open loop: p99 from the intended send time against the same requests' service time "
        f"and the closed loop's p99\n{subtitle(run)}",
        fontsize=9,
    )
    if rows:
        from matplotlib.patches import Patch

        handles = [Patch(color="grey", alpha=alpha, label=label) for _, label, alpha in bars]
        ax.legend(handles=handles, loc="lower right", fontsize=8)
    return fig


# descriptors and zombies over time ------------------------------------------------------------


def telemetry_cells(run: dict) -> list[dict]:
    """One cell per server to show over time: the most concurrent, first workload, first rep."""
    chosen: dict[str, dict] = {}
    for cell in run["cells"]:
        if not cell.get("telemetry"):
            continue
        best = chosen.get(cell["server"])
        if best is None or (cell["workload"] == best["workload"] and cell["users"] > best["users"]):
            chosen[cell["server"]] = cell
    return [chosen[s] for s in servers_in(run) if s in chosen]


def over_time_chart(run: dict, fields: tuple[str, str], title: str) -> Figure:
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
        series = cell["telemetry"]["series"]
        window = cell["window"]
        ax.axvspan(window["load_start"], window["start"], color="0.95", label="warm-up")
        ax.axvspan(window["start"], window["end"], color="0.85", label="measured window")
        color = server_style(cell["server"])["color"]
        for field_name, style in zip(fields, ("-", "--"), strict=True):
            values = series[field_name]
            if field_name == "rss_bytes":
                values = [v / 2**20 for v in values]
            ax.plot(
                series["t"],
                values,
                color=color,
                linestyle=style,
                label=labels[field_name],
                gid=f"{cell['server']}|{field_name}",
            )
        leak = cell.get("leak") or {}
        verdict = leak.get("verdict", "unknown")
        ax.set_title(
            f"{cell['server']} ({cell['workload']}, {cell['users']}u): {verdict}", fontsize=8
        )
        ax.set_xlabel("seconds (pale: warm-up, grey: window; after it: settle)", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{title}\n{subtitle(run)}", fontsize=9)
    if cells:
        handles, names = axes.flat[0].get_legend_handles_labels()
        fig.legend(
            handles,
            names,
            loc="lower center",
            bbox_to_anchor=(0.5, -0.06),
            ncol=3,
            frameon=False,
            fontsize=8,
        )
    return fig


def descriptors_zombies_chart(run: dict) -> Figure:
    return over_time_chart(
        run,
        ("parent_fds", "zombies"),
        "Open descriptors of the parent (solid) and zombies (dashed) over time",
    )


def children_rss_chart(run: dict) -> Figure:
    return over_time_chart(
        run,
        ("children", "rss_bytes"),
        "Live children (solid) and RSS of the whole tree (dashed) over time",
    )


# efficiency and errors --------------------------------------------------------------------------


def cpu_per_1000(cell: dict) -> float | None:
    """Server CPU seconds per 1,000 requests over the cell's window (its service demand)."""
    demand = cell.get("service_demand")
    return demand["us_per_request"] / 1000 if demand else None


def efficiency_chart(run: dict) -> Figure:
    """CPU seconds per 1,000 requests, and peak RSS per connection (user), per server."""
    cells = [c for c in ok_cells(run) if c["repetition"] == 1 and c["mode"] == "keepalive"]
    servers = [s for s in servers_in(run) if any(c["server"] == s for c in cells)]
    cpu, rss = {}, {}
    for server in servers:
        mine = [c for c in cells if c["server"] == server and c.get("telemetry")]
        values = [v for v in (cpu_per_1000(c) for c in mine) if v is not None]
        cpu[server] = sorted(values)[len(values) // 2] if values else 0.0
        top = max(mine, key=lambda c: c["users"], default=None)
        if top:
            rss[server] = max(top["telemetry"]["series"]["rss_bytes"] or [0]) / 1024 / top["users"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    colors = [server_style(s)["color"] for s in servers]
    left.barh(servers, [cpu.get(s, 0) for s in servers], color=colors, gid="cpu")
    left.set_xlabel("server CPU seconds per 1,000 requests (median over its cells)")
    right.barh(servers, [rss.get(s, 0) for s in servers], color=colors, gid="rss")
    right.set_xlabel("peak RSS of the tree per connection (KiB), at its most users")
    for ax in (left, right):
        ax.invert_yaxis()
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(f"Efficiency\n{subtitle(run)}", fontsize=9)
    return fig


def errors_chart(run: dict) -> Figure:
    """Failures by kind per server and workload, and cells that failed outright."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for cell in run["cells"]:
        row = f"{cell['server']} / {cell['workload']}"
        if cell["status"] == "failed":
            counts[row]["cell failed"] += 1
        if cell.get("load"):
            for kind, number in cell["load"]["failures"].items():
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
    ax.set_xlabel("failed requests (and failed cells)")
    ax.set_title(f"Errors by kind\n{subtitle(run)}", fontsize=9)
    if kinds:
        ax.legend(loc="lower right", fontsize=8)
    return fig


def all_charts(run: dict) -> dict[str, Figure]:
    """Every chart of a run, by file stem."""
    charts = {"throughput": throughput_chart(run)}
    cells = ok_cells(run)
    if cells:
        top_users = max(c["users"] for c in cells)
        for workload in dict.fromkeys(c["workload"] for c in cells):
            users = max(c["users"] for c in cells if c["workload"] == workload)
            charts[f"latency-{workload}"] = latency_spectrum_chart(run, workload, users)
        charts["latency-bars"] = latency_bars_chart(run, top_users)
    if open_cells(run):
        charts["open-loop"] = open_loop_chart(run)
    charts["descriptors-zombies"] = descriptors_zombies_chart(run)
    charts["children-rss"] = children_rss_chart(run)
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
    """Median round trip per model (IQR as error bars), one panel per benchmark group."""
    rows = micro_rows(micro)
    groups = list(dict.fromkeys(r[0] for r in rows)) or ["none"]
    fig, axes = plt.subplots(
        1, len(groups), figsize=(4.4 * len(groups), 4.2), squeeze=False, layout="constrained"
    )
    for ax, group in zip(axes[0], groups, strict=True):
        mine = sorted((r for r in rows if r[0] == group), key=lambda r: r[2])
        names = [r[1] for r in mine]
        colors = [server_style(n)["color"] if n in SERVERS else "0.5" for n in names]
        ax.barh(
            names,
            [r[2] for r in mine],
            xerr=[r[3] / 2 for r in mine],
            color=colors,
            gid=f"micro|{group}",
        )
        ax.set_xscale("log")
        ax.set_xlabel("median µs (bar: IQR)")
        ax.set_title(group, fontsize=9)
        ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.suptitle("Micro-benchmarks (pytest-benchmark, perf_counter)", fontsize=9)
    return fig
