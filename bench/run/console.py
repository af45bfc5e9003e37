"""What a command says on the terminal: its estimated length before it starts; then, in a
terminal, a progress bar (steps done of all, elapsed, the time left), and in a file or a pipe
(CI, nohup, `| tee`) every step's line tagged with the same count and time left; a line per
cell.

The estimate comes from the plan alone (bench/run/estimate.py for a run, each scenario's own
`planned` for its steps); once steps are done, the time left is the planned seconds still to go
times how long the work done so far really took over what it was planned to take, so a machine
slower than the calibration's, or servers slower to start, lengthen the rest alike."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from bench.catalog import Resolved
from bench.record import CellRecord
from bench.stats import cpu_us


def duration(seconds: float, rough: bool = False) -> str:
    """7 min 50 s, 1 h 05 min; rough (for the time left, which moves): ~45 s, ~8 min."""
    whole = round(max(0.0, seconds))
    minutes = round(whole / 60)
    if rough and whole < 90:
        return f"~{5 * round(whole / 5)} s"
    if rough and minutes < 60:
        return f"~{minutes} min"
    if not rough and whole < 60:
        return f"{whole} s"
    if not rough and whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{'~' if rough else ''}{minutes // 60} h {minutes % 60:02d} min"


class Countdown:
    """Steps done of all, and the time left: the plan's own estimate until a step is done, then
    the planned seconds still to go times (real / planned) of the work done so far."""

    def __init__(
        self, planned_s: float, steps: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.planned_s, self.steps, self.clock = planned_s, steps, clock
        self.started = self.last = clock()
        self.done = 0  # steps done
        self.done_s = 0.0  # the planned seconds of the work done

    def advance(self, planned_s: float, steps: int = 1) -> None:
        """Work planned to take `planned_s` is done (steps=0: work that is not a step, such
        as starting the load generator)."""
        self.done += steps
        self.done_s += planned_s
        self.last = self.clock()

    def drop(self, planned_s: float, steps: int = 1) -> None:
        """Planned work that will not be done (a sweep that ended at its knee)."""
        self.planned_s -= planned_s
        self.steps -= steps

    @property
    def ratio(self) -> float:
        """How long the work done really took over its plan (1 before any is done)."""
        real = self.last - self.started
        return real / self.done_s if self.done_s > 0 and real > 0 else 1.0

    def left_s(self) -> float:
        """The time left: what is still planned, at the pace so far, less what the step
        under way has already run."""
        remaining = max(0.0, self.planned_s - self.done_s) * self.ratio
        return max(0.0, remaining - (self.clock() - self.last))

    def tag(self) -> str:
        return f"[{self.done}/{self.steps}, {duration(self.left_s(), rough=True)} left]"


class LeftColumn(ProgressColumn):
    """The bar's time left, from the countdown (rich's own needs a step done and a steady
    speed; this one is the plan's estimate from the start)."""

    def __init__(self, countdown: Countdown) -> None:
        super().__init__()
        self.countdown = countdown

    def render(self, task: Task) -> Text:
        return Text(f"{duration(self.countdown.left_s(), rough=True)} left", "progress.remaining")


class Counter:
    """One command's steps as they are done (made by Reporter.counting): `now` says what runs
    and what it was planned to take, `done` that it ended, with its line."""

    def __init__(self, reporter: Reporter, countdown: Countdown, progress: Progress) -> None:
        self.reporter, self.countdown, self.progress = reporter, countdown, progress
        self.task = progress.add_task("", total=countdown.steps)
        self.pending: tuple[float, int] | None = None

    def now(self, description: str, planned_s: float, steps: int = 1) -> None:
        """The next step starts (a step still pending is done first, without a line)."""
        self.finish()
        self.pending = (planned_s, steps)
        self.progress.update(self.task, description=escape(description))

    def done(self, line: str = "") -> None:
        """The step under way ended; its line, tagged with the count and the time left where
        no bar shows them."""
        if self.pending is not None:
            self.countdown.advance(*self.pending)
            self.pending = None
            self.progress.update(
                self.task, completed=self.countdown.done, total=self.countdown.steps
            )
        if line:
            self.reporter.say(self.tagged(line))

    def finish(self) -> None:
        if self.pending is not None:
            self.done()

    def drop(self, planned_s: float, steps: int = 1) -> None:
        """Steps planned that will not run: out of the count and the time left."""
        self.countdown.drop(planned_s, steps)
        self.progress.update(self.task, total=self.countdown.steps)

    def tagged(self, line: str) -> str:
        return line if self.reporter.live else f"{escape(self.countdown.tag())} {line}"


def counted(count: int, unit: str) -> str:
    """'1 cell', '136 cells'."""
    return f"{count} {unit[:-1] if count == 1 and unit.endswith('s') else unit}"


def estimate_line(
    what: str, parts: Sequence[tuple[str, float]], steps: int, unit: str, at_most: bool = False
) -> str:
    """'the run: 136 cells, estimated 7 min 50 s (cells 7 min 35 s, report 5 s)'."""
    total = sum(seconds for _, seconds in parts)
    bound = "at most " if at_most else ""
    said = f"{what}: {counted(steps, unit)}, estimated {bound}{duration(total)}"
    shown = [f"{name} {duration(seconds)}" for name, seconds in parts if seconds > 0]
    return said + (f" ({', '.join(shown)})" if len(shown) > 1 else "")


class Reporter:
    """The command's terminal: rich on standard error; `quiet` hides the progress bar."""

    def __init__(self, quiet: bool = False, console: Console | None = None) -> None:
        self.quiet = quiet
        self.console = console or Console(stderr=True, quiet=False)
        self.counter: Counter | None = None  # the steps under way, while `counting`

    @property
    def live(self) -> bool:
        """A progress bar shows the count and the time left: a terminal, not quiet."""
        return self.console.is_terminal and not self.quiet

    def say(self, message: str) -> None:
        self.console.print(message, highlight=False, soft_wrap=True)

    def unavailable(self, resolved: Resolved) -> None:
        """Before anything runs: each server asked for that will not run here (or not on every
        workload), why and how to get it, and what goes on without it."""
        styles = {"not run": "yellow", "partly": "dim", "going on": "dim"}
        for line, kind in resolved.said():
            self.say(f"[{styles[kind]}]{escape(line)}[/]")

    def progress(self, countdown: Countdown) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            LeftColumn(countdown),
            console=self.console,
            disable=not self.live,
            transient=True,
        )

    @contextlib.contextmanager
    def counting(
        self,
        what: str,
        parts: Sequence[tuple[str, float]],
        steps: int,
        unit: str = "steps",
        at_most: bool = False,
    ) -> Iterator[Counter]:
        """`steps` steps planned to take the sum of `parts` (named, in seconds: said in the
        estimate's line before the first); at the end, how long they took against the plan."""
        self.say(estimate_line(what, parts, steps, unit, at_most))
        countdown = Countdown(sum(seconds for _, seconds in parts), steps)
        with self.progress(countdown) as progress:
            counter = self.counter = Counter(self, countdown, progress)
            try:
                yield counter
                counter.finish()
            finally:
                self.counter = None
        real, planned_s = countdown.last - countdown.started, countdown.done_s
        done = counted(countdown.done, unit)
        self.say(f"{what}: {done} in {duration(real)}, planned {duration(planned_s)}")

    def cell(self, record: CellRecord) -> None:
        """A measured cell's line, the step done where one is counted."""
        line = cell_line(record)
        if self.counter is not None:
            self.counter.done(line)
        else:
            self.say(line)


def cell_line(record: CellRecord) -> str:
    """One line for a measured cell: its figures, or why it failed."""
    load = record.load
    if record.status != "ok" or load is None:
        return f"[red]✗[/] {record.key}: {escape(record.reason.splitlines()[0][:160])}"
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

    return (
        f"[green]✓[/] {record.key}: {load.throughput:,.0f} req/s, "
        f"p50 {ms(load.latency_us.p50)}, p99 {ms(load.latency_us.p99)}"
        + "".join(f" {flag}" for flag in flags)
    )
