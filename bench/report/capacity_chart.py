"""The capacity chart, drawn from capacity.json and nothing else.

    python -m bench report results/capacity-TIME     (redraws capacity.png and .svg)

Latency against offered rate, log-log, one colour per server (the harness's colours): p99 solid,
p50 dashed, both counted from the intended send time; the p99 limit as a grey line; a star on
each server's capacity; hollow markers on generator-bound steps (locust's figure, not the
server's). Every artist carries a gid ("p99|asyncio", "capacity|asyncio", "limit") so that
tests read the plotted data back.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.report.charts import MS_MEASURED_IN_US, conditions, plain_log_axis, server_style


def describe(result: dict) -> str:
    """'4,320 req/s', '≥ 8,760 req/s' or 'below 20 req/s', for a line or a legend."""
    capacity = result["capacity"]
    if capacity is None:
        first = result.get("stopped_at")
        return f"below {first:,.4g} req/s" if first else "not measured"
    return f"{'≥ ' if result['lower_bound'] else ''}{capacity:,.6g} req/s"


def measured(steps: list[dict]) -> list[dict]:
    """The steps with an answered request (the others have no latency to draw), by rate."""
    return sorted((s for s in steps if s["latency_us"]), key=lambda s: s["offered_rate"])


def latency_ms(step: dict, name: str) -> float:
    """A step's percentile in ms; one that fell among requests never answered in time is drawn
    at the least it could be, the drain limit."""
    value = step["latency_us"].get(name)
    return (step.get("censored_above_us", 0.0) if value is None else value) / 1000


def capacity_chart(document: dict) -> Figure:
    """p99 and p50 against offered rate, one line per server; the limit; the capacities."""
    fig, ax = plt.subplots(figsize=(8.5, 5.2), layout="constrained")
    limit_ms = document["limits"]["p99_ms"]
    for entry in document["servers"]:
        steps = measured(entry["steps"])
        if not steps:
            continue
        server, style = entry["server"], server_style(entry["server"])
        rates = [s["offered_rate"] for s in steps]
        ax.plot(
            rates,
            [latency_ms(s, "p99") for s in steps],
            marker=style["marker"],
            color=style["color"],
            label=f"{server}: {describe(entry)}",
            gid=f"p99|{server}",
        )
        ax.plot(
            rates,
            [latency_ms(s, "p50") for s in steps],
            linestyle="--",
            linewidth=1,
            color=style["color"],
            gid=f"p50|{server}",
        )
        bound = [s for s in steps if s.get("generator_bound")]
        if bound:
            ax.scatter(
                [s["offered_rate"] for s in bound],
                [latency_ms(s, "p99") for s in bound],
                s=60,
                marker=style["marker"],
                facecolors="white",
                edgecolors=style["color"],
                linewidths=1.5,
                zorder=3,
                gid=f"bound|{server}",
            )
        at_capacity = [s for s in steps if s["offered_rate"] == entry.get("capacity")]
        if at_capacity:
            ax.scatter(
                [entry["capacity"]],
                [latency_ms(at_capacity[0], "p99")],
                s=260,
                marker="*",
                color=style["color"],
                edgecolors="black",
                linewidths=0.6,
                zorder=4,
                gid=f"capacity|{server}",
            )
    ax.axhline(
        limit_ms, color="grey", linewidth=1.2, gid="limit", label=f"p99 limit {limit_ms:g} ms"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_axis(ax.xaxis, at_least=5)  # 20, 50, 100, 200 where powers of ten are few
    plain_log_axis(ax.yaxis, resolution=MS_MEASURED_IN_US, at_least=5)
    ax.set_xlabel("offered rate (requests/s, open loop)")
    ax.set_ylabel("latency from the intended send time (ms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.suptitle(title(document), fontsize=9)
    return fig


def title(document: dict) -> str:
    limits = document["limits"]
    return (
        f"Latency vs offered rate on {document['workload']}, {document['users']} connections: p99 "
        f"solid, p50 dashed; star: capacity (p99 at most {limits['p99_ms']:g} ms, errors at most "
        f"{limits['error_fraction']:.2%}); hollow: generator-bound\n{subtitle(document)}"
    )


def subtitle(document: dict) -> str:
    """The sweep's measuring conditions, as every run chart says them."""
    meta, settings = document["metadata"], document["metadata"]["settings"]
    partial = "" if document["status"] == "complete" else f" — {document['status'].upper()} RUN"
    return (
        conditions(
            settings["duration_s"],
            settings["warmup_s"],
            meta["cpu_count"],
            meta["cpu_model"],
            meta["commit"],
        )
        + partial
    )


def draw(folder: Path) -> list[Path]:
    """capacity.png and capacity.svg from folder/capacity.json."""
    document = json.loads((folder / "capacity.json").read_text())
    figure = capacity_chart(document)
    paths = [folder / "capacity.png", folder / "capacity.svg"]
    try:
        for path in paths:
            figure.savefig(path, dpi=110, bbox_inches="tight")
    finally:
        plt.close(figure)
    return paths
