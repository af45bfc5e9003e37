"""What a run says on the terminal: a progress bar while it measures, a line per cell."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench.record import CellRecord
from bench.stats import cpu_us


class Reporter:
    """The run's terminal: rich on standard error; `quiet` hides the progress bar."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True, quiet=False)

    def say(self, message: str) -> None:
        self.console.print(message, highlight=False, soft_wrap=True)

    def progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=self.console,
            disable=self.quiet,
            transient=True,
        )

    def cell(self, record: CellRecord) -> None:
        """One line for a measured cell: its figures, or why it failed."""
        load = record.load
        if record.status != "ok" or load is None:
            self.say(f"[red]✗[/] {record.key}: {record.reason.splitlines()[0][:160]}")
            return
        flags = []
        if record.generator_bound:
            flags.append(f"[yellow]generator-bound ({record.generator_bound_reason})[/]")
        if record.wrk and record.wrk.throughput:
            flags.append(f"wrk {record.wrk.throughput:,.0f} req/s")
        failed = sum(load.failures.values())
        if failed:
            flags.append(f"[red]{failed:,} failed[/]")
        if record.server_reports.accept_failures:
            flags.append(f"[yellow]{record.server_reports.accept_failures:,} accept failures[/]")
        leak = record.leak
        if leak and leak.verdict == "leaks":
            flags.append(f"leaks: +{leak.fds_left} fds, +{leak.zombies_left} zombies")
        demand = record.service_demand
        if demand:
            figure = cpu_us(demand.us_per_request, demand.error_us_per_request)
            flags.append(f"server {figure} µs CPU/request")

        def ms(value: float | None) -> str:
            if value is None:
                return f"> {(load.censored_above_us or 0) / 1e6:g} s"
            return f"{value / 1000:.2f} ms"

        self.say(
            f"[green]✓[/] {record.key}: {load.throughput:,.0f} req/s, "
            f"p50 {ms(load.latency_us.p50)}, p99 {ms(load.latency_us.p99)} {' '.join(flags)}"
        )
