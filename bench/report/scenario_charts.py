"""Charts of the scenarios (C10K, slow clients, the wrk cross-check), drawn from their stored
JSON and nothing else, so any stored result can be drawn again without measuring.

Each function takes the document and returns a Figure; `draw(folder)` writes a PNG beside every
scenario file it finds. Colours and markers per model are the harness charts' own.

    python -m bench report results/<folder>
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen: files only

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.report.charts import MS_MEASURED_IN_US, plain_log_axis, server_style

ONE_AT_A_TIME = "one at a time"
FATES = (  # where the connections asked for went, in the order the bars stack them
    ("held", "held by the server", "#009E73"),
    ("in_backlog", "waiting in the listen backlog", "#E69F00"),
    ("closed_by_server", "closed by the server", "#CC79A7"),
    ("failed", "connect failed", "#D55E00"),
    ("not_attempted", "not attempted (after a failure)", "#BBBBBB"),
)


def _models(rows: list[dict], key: str = "model") -> list[str]:
    return list(dict.fromkeys(row[key] for row in rows))


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


# C10K ---------------------------------------------------------------------------------------


def scale_chart(document: dict) -> Figure:
    """Four panels: the tree's RSS against the connections held (a line per model; the
    one-at-a-time models dashed and hollow, against the connections open, since all but one of
    them wait in the backlog), private memory (USS) and descriptors per connection held, and where
    the connections of each model's largest step went."""
    steps = [s for s in document["steps"] if not s["failure"]]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9.5), layout="constrained")
    rss_ax, uss_ax, fds_ax, fate_ax = axes.flat
    ends: dict = {rss_ax: [], uss_ax: [], fds_ax: []}  # each line's last point, named there
    for model in _models(steps):
        mine = [s for s in steps if s["model"] == model]
        style = server_style(model)
        backlog = mine[0].get("kind") == ONE_AT_A_TIME
        line = {"color": style["color"], "marker": style["marker"], "gid": model}
        if backlog:
            xs = [s["held"] + s["in_backlog"] for s in mine]
            line |= {"linestyle": "--", "markerfacecolor": "white"}
            label = f"{model} (open: 1 held, the rest in the backlog)"
        else:
            xs = [s["held"] for s in mine]
            label = model
        points = [(x, s) for x, s in zip(xs, mine, strict=True) if x > 0]
        if not points:
            continue
        rss_ax.plot([x for x, _ in points], [s["rss_mib"] for _, s in points], label=label, **line)
        ends[rss_ax].append((points[-1][0], points[-1][1]["rss_mib"], model))
        if backlog:
            continue  # one connection held: nothing to divide by
        for ax, key in ((uss_ax, "uss_per_connection_kib"), (fds_ax, "descriptors_per_connection")):
            kept = [(x, s[key]) for x, s in points if s.get(key) and s[key] > 0]
            if kept:
                ax.plot([x for x, _ in kept], [v for _, v in kept], **line)
                ends[ax].append((*kept[-1], model))
    for ax, points in ends.items():
        _name_line_ends(ax, points)
    rss_ax.set_ylabel("server tree RSS (MiB)")
    uss_ax.set_ylabel("private memory (USS) per connection held (KiB)")
    fds_ax.set_ylabel("descriptors per connection held (whole tree)")
    for ax in (rss_ax, uss_ax, fds_ax):
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_axis(ax.xaxis, resolution=1)  # connections: whole numbers
        plain_log_axis(ax.yaxis)
        ax.set_xlabel("idle connections held")
        ax.grid(True, which="both", alpha=0.3)
    fig.legend(*rss_ax.get_legend_handles_labels(), loc="outside lower center", ncol=4, fontsize=8)
    _fates_panel(fate_ax, steps)
    limit = document.get("descriptor_limit")
    fig.suptitle(
        "Idle connections (C10K): what holding them costs each model"
        + (f" (descriptor limit {limit:,})" if limit else "")
    )
    return fig


def _name_line_ends(ax, points: list[tuple[float, float, str]]) -> None:
    """Write each line's model beside its last point; lines that end within 15 % of each other
    (the same x) are named together, so coinciding lines are not lost."""
    groups: list[list[tuple[float, float, str]]] = []
    for point in sorted(points):
        last = groups[-1][0] if groups else None
        if last and last[0] == point[0] and point[1] <= last[1] * 1.15:
            groups[-1].append(point)
        else:
            groups.append([point])
    for group in groups:
        x, y, _ = group[0]
        names = ", ".join(name for _, _, name in group)
        ax.annotate(names, (x, y), xytext=(5, 4), textcoords="offset points", fontsize=7)


def _fates_panel(ax, steps: list[dict]) -> None:
    """Each model's largest step: the connections asked for, by what became of them."""
    largest = [[s for s in steps if s["model"] == m][-1] for m in _models(steps)]
    names = [s["model"] for s in largest]
    left = [0.0] * len(largest)
    for key, label, colour in FATES:
        shares = []
        for step in largest:
            count = sum(step["errors"].values()) if key == "failed" else step.get(key, 0)
            shares.append(count / max(step["connections"], 1))
        ax.barh(names, shares, left=left, color=colour, label=label, gid=f"fate|{key}")
        left = [a + b for a, b in zip(left, shares, strict=True)]
    for index, step in enumerate(largest):
        sample = step.get("sample") or {}
        ax.text(
            1.02,
            index,
            f"{step['connections']:,} asked; GETs answered "
            f"{sample.get('answered', 0)}/{sample.get('asked', 0)}",
            va="center",
            fontsize=7,
            transform=ax.get_yaxis_transform(),
        )
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the connections asked for (each model's largest step)")
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, frameon=False)


# slow clients -------------------------------------------------------------------------------


def slowclients_chart(document: dict) -> Figure:
    """Per model: the normal users' throughput without and with slow clients (grouped bars, log
    scale, a zero written as 0), and the share kept (the degradation ratio)."""
    rows = [r for r in document["summary"] if not r.get("failure")]
    fig, (bars_ax, ratio_ax) = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
    models = [r["model"] for r in rows]
    width = 0.38
    for index, row in enumerate(rows):
        colour = server_style(row["model"])["color"]
        for offset, key, hatch in ((-width / 2, "without", ""), (width / 2, "with", "//")):
            value = row[f"throughput_{key}"] or 0.0
            bars_ax.bar(
                index + offset,
                max(value, 0.5),
                width,
                color=colour if key == "without" else "white",
                edgecolor=colour,
                hatch=hatch,
                gid=f"{row['model']}|{key}",
            )
            if value < 1:
                bars_ax.text(index + offset, 0.6, "0", ha="center", fontsize=8, color="#D55E00")
    bars_ax.set_yscale("log")
    plain_log_axis(bars_ax.yaxis)
    bars_ax.set_ylim(bottom=0.5)
    bars_ax.set_xticks(range(len(models)), models, rotation=30, ha="right")
    bars_ax.set_ylabel("normal users' throughput (requests/s)")
    bars_ax.set_title("without slow clients (solid), with them (hatched)")
    ratios = [row.get("throughput_ratio") or 0.0 for row in rows]
    ratio_ax.bar(
        models,
        ratios,
        color=[server_style(m)["color"] for m in models],
        gid="kept",
    )
    for index, row in enumerate(rows):
        ratio_ax.text(index, ratios[index] + 0.02, row.get("verdict", ""), ha="center", fontsize=7)
    ratio_ax.axhline(1.0, color="grey", linewidth=1)
    ratio_ax.set_ylim(0, max([1.2, *[r + 0.15 for r in ratios]]))
    ratio_ax.set_xticks(range(len(models)), models, rotation=30, ha="right")
    ratio_ax.set_ylabel("throughput kept (with / without)")
    ratio_ax.set_title("degradation ratio")
    settings = document.get("settings", {})
    fig.suptitle(
        f"Slow clients: {settings.get('slow', '?')} clients sending their headers one byte at a "
        f"time, {settings.get('users', '?')} normal users, "
        f"{settings.get('duration_s', '?')} s per phase"
    )
    return fig


# wrk cross-check ----------------------------------------------------------------------------


def crosscheck_chart(document: dict) -> Figure:
    """Per server: throughput measured by locust and by wrk on the same cell, and their p50 and
    p99 latencies."""
    cells = [c for c in document["cells"] if c.get("locust") and c.get("wrk")]
    fig, (rate_ax, latency_ax) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    names = [c["server"] for c in cells]
    width = 0.38
    tools = (("locust", -width / 2, "#0072B2"), ("wrk", width / 2, "#E69F00"))
    for tool, offset, colour in tools:
        rate_ax.bar(
            [i + offset for i in range(len(cells))],
            [c[tool]["throughput"] for c in cells],
            width,
            color=colour,
            label=tool,
            gid=f"rate|{tool}",
        )
        for percentile, hatch, shift in (("p50", "", -width / 4), ("p99", "//", width / 4)):
            latency_ax.bar(
                [i + offset + shift for i in range(len(cells))],
                [(c[tool]["latency_us"] or {}).get(percentile, 0) / 1000 for c in cells],
                width / 2,
                color=colour if not hatch else "white",
                edgecolor=colour,
                hatch=hatch,
                label=f"{tool} {percentile}",
                gid=f"latency|{tool}|{percentile}",
            )
    for ax in (rate_ax, latency_ax):
        ax.set_xticks(range(len(names)), names)
        ax.legend(fontsize=7, loc="lower right", framealpha=0.9)
    rate_ax.set_ylabel("requests/s")
    latency_ax.set_ylabel("latency (ms)")
    latency_ax.set_yscale("log")
    plain_log_axis(latency_ax.yaxis, resolution=MS_MEASURED_IN_US)
    first = cells[0] if cells else {}
    mode = "a new connection per request" if first.get("close") else "keep-alive"
    fig.suptitle(f"locust and wrk on the same cells ({first.get('users', '?')} users, {mode})")
    return fig


# all of them ----------------------------------------------------------------------------------

CHARTS = {
    "scale.json": ("scale.png", scale_chart),
    "slowclients.json": ("slowclients.png", slowclients_chart),
    "crosscheck.json": ("crosscheck.png", crosscheck_chart),
}


def draw(folder: Path, sources: tuple[str, ...] = tuple(CHARTS)) -> list[Path]:
    """A PNG beside each scenario file (of `sources`) found in `folder`; the paths written."""
    written = []
    for name in sources:
        png, chart = CHARTS[name]
        source = folder / name
        if source.is_file():
            written.append(_save(chart(json.loads(source.read_text())), folder / png))
    return written
