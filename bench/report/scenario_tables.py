"""The scenarios' tables (rich), drawn from their stored JSON alone: the terminal prints them at
the end of each scenario, and summary.md turns them into Markdown, so the two never differ."""

from __future__ import annotations

from rich.table import Table


def capacity_table(document: dict) -> Table:
    """Capacity: each server's capacity and what stopped its sweep (capacity.json)."""
    from bench.report.capacity_chart import describe  # matplotlib: only for this table

    limits = document["limits"]
    table = Table(
        title=f"Capacity: p99 ≤ {limits['p99_ms']:g} ms, errors ≤ {limits['error_fraction']:.2%}",
        caption=f"{document['workload']}, {document['users']} connections, open loop",
    )
    for column in ("server", "capacity", "steps", "stopped by"):
        table.add_column(column, justify="right" if column in ("capacity", "steps") else "left")
    for entry in document["servers"]:
        table.add_row(
            entry["server"], describe(entry), str(len(entry["steps"])), entry["stop_reason"]
        )
    return table


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def scale_table(steps: list[dict]) -> Table:
    """C10K: every step (model and count) of scale.json."""
    table = Table(title="Idle connections held; the server's whole process tree")
    columns = (
        "model",
        "asked",
        "held",
        "backlog",
        "RSS MiB",
        "KiB/conn RSS",
        "KiB/conn USS",
        "fds/conn",
        "procs / threads",
        "GETs held / fresh",
        "p50 ms",
        "result",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("model", "result") else "right")
    for step in steps:
        sample, fresh = step["sample"] or {}, step["fresh"] or {}
        table.add_row(
            step["model"],
            f"{step['connections']:,}",
            f"{step['held']:,}",
            f"{step['in_backlog']:,}",
            f"{step['rss_mib']:,.1f}",
            _number(step["rss_per_connection_kib"]),
            _number(step["uss_per_connection_kib"]),
            _number(step["descriptors_per_connection"], 2),
            f"{step['processes']:,} / {step['threads']:,}",
            f"{sample.get('answered', 0)}/{sample.get('asked', 0)} / "
            f"{fresh.get('answered', 0)}/{fresh.get('asked', 0)}",
            _number((sample.get("latency_ms") or {}).get("p50"), 2),
            step["verdict"],
        )
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def slow_table(rows: list[dict]) -> Table:
    """Slow clients: slowclients.json's summary, a row per model."""
    table = Table(title="Normal users' throughput without and with slow clients")
    for column in (
        "model",
        "req/s without",
        "req/s with",
        "kept",
        "p50 ms without / with",
        "p99 ms without / with",
        "verdict",
    ):
        table.add_column(column, justify="left" if column in ("model", "verdict") else "right")
    for row in rows:
        if row["failure"]:
            table.add_row(row["model"], "", "", "", "", "", f"failed: {row['failure']}")
            continue
        ratio = row.get("throughput_ratio")
        table.add_row(
            row["model"],
            f"{row['throughput_without']:,.0f}",
            f"{row['throughput_with']:,.0f}",
            "n/a" if ratio is None else f"{ratio:.0%}",
            f"{_ms(row['p50_ms_without'])} / {_ms(row['p50_ms_with'])}",
            f"{_ms(row['p99_ms_without'])} / {_ms(row['p99_ms_with'])}",
            row["verdict"],
        )
    return table
