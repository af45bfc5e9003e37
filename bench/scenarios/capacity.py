"""Capacity: a rate sweep per server, open loop, and the highest offered rate it sustains.

    python -m bench capacity [--servers asyncio,threaded] [--start 20 --factor 1.5]
        [options]

Each server is started once (pinned apart from the load generator, as the harness does) and
offered a rising rate of requests on a fixed schedule (bench/load.py's open loop: latency counts
from the intended send time, and requests that could not even be sent count as failures). A step
passes when its p99 is at most the limit (default 100 ms) and its errors at most the error limit
(default 0.1 %). The sweep stops at the first step that does not pass; the server's capacity is
the highest offered rate below that step. Two things end a sweep without a verdict on the server,
and then the capacity is a lower bound ("at least"): reaching --max-rate, and a step that is
generator-bound (the answers fell short of the offered rate, or the step failed, while the load
generator's CPU was saturated: locust, not the server, set that step's figure). On a shared
machine other work can take the generator's CPU: a step that fails while its CPU was nearly all
busy, but not with locust, is measured once more, and the second verdict stands.

Every step is written to capacity.json at once (atomically), so an interrupted sweep keeps what
it measured; capacity_chart.py draws capacity.png and capacity.svg from that file alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from bench import options
from bench.catalog import SERVERS, WORKLOADS, Catalog
from bench.launch import LaunchError, ServerProcess, VerifyError, launched
from bench.load import CellLoad, LoadResult, generator_verdict
from bench.report.capacity_chart import describe, latency_ms
from bench.report.scenario_tables import capacity_table
from bench.run import Session
from bench.run.console import Counter
from bench.run.estimate import CELL_FIXED_S, GENERATOR_START_S
from bench.store import StoreError, metadata, results_dir, write_json
from bench.verify import answers

FORMAT = "capacity/1"
# every one of our models that does not leak by design; the leaking fork models (fork,
# fork_leak, fork_wait) are not swept at all: their lesson is the leak, and fork_reap is the
# same fork-per-connection model without it; the peers run when named
DEFAULT_SERVERS = tuple(
    name for name, spec in SERVERS.items() if spec.kind == "ours" and not spec.leaking
)
QUICK_SERVERS = ("asyncio", "threaded", "fork_reap")
DEFAULT_START, DEFAULT_FACTOR = 20.0, 1.5
# No rate a server could take here: a sweep goes on to its knee, or to the first step the load
# generator cannot send (generator-bound, said in its stop reason): 12,000, written for
# FastHttpUser, ended today's sweeps with the servers a quarter busy and said "at least 12,000"
DEFAULT_MAX_RATE = 100_000.0
STEP_FIXED_S = 0.3  # the generator's own start and end of a step, over its warm-up and window
SHORTFALL = 0.95  # answers below this share of the offered rate: the step fell short
FIRST_ATTEMPT = (
    "throughput",
    "latency_us",
    "failures",
    "generator_cpu_share",
    "generator_cpus_busy",
)


class CapacityError(ValueError):
    """The sweep cannot run as asked; the message says why in one line."""


def rate_steps(start: float, factor: float, max_rate: float) -> tuple[float, ...]:
    """start, start times factor, and so on up to max_rate, rounded to 3 significant digits."""
    if start <= 0 or factor <= 1 or max_rate < start:
        raise CapacityError("the rates need --start > 0, --factor > 1 and --max-rate >= --start")
    rates: list[float] = []
    rate = start
    while rate <= max_rate * (1 + 1e-9):
        rounded = float(f"{rate:.3g}")
        if not rates or rounded > rates[-1]:
            rates.append(rounded)
        rate *= factor
    return tuple(rates)


DEFAULT_RATES = rate_steps(DEFAULT_START, DEFAULT_FACTOR, DEFAULT_MAX_RATE)


@dataclass(frozen=True)
class Criteria:
    """What a step must stay within to pass."""

    p99_ms: float = 100.0
    error_fraction: float = 0.001


@dataclass(frozen=True)
class Sweep:
    """The settings of one capacity measurement (stored in capacity.json's metadata)."""

    servers: tuple[str, ...] = DEFAULT_SERVERS
    workload: str = "hello"
    users: int = 16
    rates: tuple[float, ...] = DEFAULT_RATES
    limits: Criteria = field(default_factory=Criteria)
    duration_s: float = 2.0
    warmup_s: float = 0.5
    max_rate: float = DEFAULT_MAX_RATE
    cpu_split: bool = True

    @property
    def request_timeout_s(self) -> float:
        """A request unanswered this long fails: ten times the p99 limit (at least 1 s), so an
        overloaded step ends soon after its window instead of waiting out the harness's 5 s."""
        return max(1.0, 10 * self.limits.p99_ms / 1000)


def check_sweep(sweep: Sweep) -> None:
    """Refuse, in one line, a sweep that cannot be run or could not be trusted."""
    for name in sweep.servers:
        if name not in SERVERS:
            raise CapacityError(f"unknown server {name!r}; choose from {', '.join(SERVERS)}")
        if SERVERS[name].leaking:
            raise CapacityError(
                f"{name} leaks by design (zombies or descriptors with every connection) and is "
                "not swept; fork_reap is the same model without the leak"
            )
    if not sweep.servers:
        raise CapacityError("no server to sweep")
    if sweep.workload not in WORKLOADS:
        raise CapacityError(
            f"unknown workload {sweep.workload!r}; choose from {', '.join(WORKLOADS)}"
        )
    if not 1 <= sweep.users <= 1000:
        raise CapacityError("--users must be from 1 to 1000")
    if not 1 <= sweep.max_rate <= 100_000:
        raise CapacityError("--max-rate must be from 1 to 100000 requests per second")
    if not sweep.rates or any(not 0 < r <= sweep.max_rate for r in sweep.rates):
        raise CapacityError(f"every rate must be above 0 and at most --max-rate {sweep.max_rate:g}")
    if list(sweep.rates) != sorted(set(sweep.rates)):
        raise CapacityError("the rates must rise from step to step")
    if not 0.5 <= sweep.duration_s <= 600 or not 0 <= sweep.warmup_s <= 60:
        raise CapacityError("--duration must be 0.5 to 600 s and --warmup 0 to 60 s")
    if not 0 < sweep.limits.p99_ms <= 60_000:
        raise CapacityError("--p99-limit must be above 0 and at most 60 s")
    if not 0 <= sweep.limits.error_fraction < 1:
        raise CapacityError("--error-limit must be from 0 to below 100 %")


def planned(sweep: Sweep) -> list[list[float]]:
    """Each server's steps' planned seconds, every rate offered (a sweep ends at its first
    failed step: at most): the warm-up, the window and the generator's own cost; a server's
    first step its start too, and the sweep's first the generator's."""
    step = sweep.warmup_s + sweep.duration_s + STEP_FIXED_S
    plan = [
        [step + (0.0 if i else CELL_FIXED_S) for i in range(len(sweep.rates))]
        for _ in sweep.servers
    ]
    if plan and plan[0]:
        plan[0][0] += GENERATOR_START_S
    return plan


# the rule: pure functions of step records ---------------------------------------------------


def error_fraction(step: dict) -> float:
    """Failed requests (answered wrongly, not answered, or never sent) over those due."""
    failed = sum(step["failures"].values())
    due = step["requests"] + failed
    return failed / due if due else 1.0


def fell_short(step: dict) -> bool:
    return step["throughput"] < SHORTFALL * step["offered_rate"]


def is_generator_bound(step: dict, failed_limits: bool) -> bool:
    """The step fell short of its rate (or failed) while locust used nearly all of its CPU: the
    server was not the bottleneck, the generator was."""
    cause, _ = generator_verdict(step["generator_cpu_share"], step["generator_cpus_busy"])
    return (fell_short(step) or failed_limits) and cause == "locust"


def is_contended(step: dict, failed_limits: bool) -> bool:
    """The step fell short (or failed) while the generator's CPU was nearly all busy but not with
    locust: on a shared machine other work took it, and locust may have been starved. Such a
    step is measured once more; the second verdict stands (the sleep model's overload, which
    needs little of locust, fails twice)."""
    cause, _ = generator_verdict(step["generator_cpu_share"], step["generator_cpus_busy"])
    return (fell_short(step) or failed_limits) and cause == "contended"


def verdict(step: dict, limits: Criteria) -> str:
    """Why a step does not pass ("" when it passes). A generator-bound step never passes: its
    figure is the generator's."""
    if step.get("error"):
        return f"the load failed: {step['error'][:120]}"
    if step.get("generator_bound"):
        return (
            f"generator-bound: {step['throughput']:,.0f} of {step['offered_rate']:,.0f} req/s "
            f"with locust at {step['generator_cpu_share']:.0%} of its CPU"
        )
    if not step["requests"]:
        return "no request was answered"
    errors = error_fraction(step)
    if errors > limits.error_fraction:
        return f"errors {errors:.2%} > {limits.error_fraction:.2%}"
    p99_us = step["latency_us"].get("p99")
    if p99_us is None:  # the open loop's p99 fell among requests never answered in time
        return f"p99 more than {step.get('censored_above_us', 0) / 1e6:g} s > {limits.p99_ms:g} ms"
    if p99_us / 1000 > limits.p99_ms:
        return f"p99 {p99_us / 1000:,.1f} ms > {limits.p99_ms:g} ms"
    return ""


def capacity_of(steps: list[dict], limits: Criteria, ended: str = "every rate passed") -> dict:
    """The highest offered rate that passed below the first step that did not (steps taken in
    rising rate). A step that passes above a failing one does not count: the server went through
    the failing rate to get there, so that pass was luck, not capacity. None when the first step
    failed. A lower bound when no step failed (`ended` says why the sweep ended: the last rate,
    an interrupt, the server's exit) or the first failure was not the server's (generator-bound,
    or the load generator failed)."""
    capacity, stopped_at, reason, failing = None, None, ended, None
    for step in sorted(steps, key=lambda s: s["offered_rate"]):
        failure = verdict(step, limits)
        if failure:
            stopped_at, reason, failing = step["offered_rate"], failure, step
            break
        capacity = step["offered_rate"]
    not_the_server = failing is None or bool(failing.get("generator_bound") or failing.get("error"))
    return {
        "capacity": capacity,
        "lower_bound": not_the_server and capacity is not None,
        "stopped_at": stopped_at,
        "stop_reason": reason,
    }


# measuring --------------------------------------------------------------------------------------


def step_record(load: LoadResult, server_cpu_share: float) -> dict:
    """What one step measured: the figures the rule and the chart need, and a reader wants."""
    step = {
        "offered_rate": load.offered_rate,
        "throughput": load.throughput,
        "requests": load.requests,
        "due": load.requests + load.failed,
        "failures": dict(load.failures),
        "latency_us": load.latency_us,
        "censored_above_us": load.censored_above_us,
        "service_latency_us": load.service_latency_us,
        "late": load.late,
        "max_lag_s": load.max_lag_s,
        "window_s": load.window_s,
        "generator_cpu_share": load.generator_cpu_share,
        "generator_cpus_busy": load.generator_cpus_busy,
        "server_cpu_share": server_cpu_share,
        "error": load.error,
    }
    step["error_fraction"] = error_fraction(step)
    return step


class Sweeper:
    """One capacity measurement: the servers one after another, capacity.json after every step."""

    def __init__(self, sweep: Sweep, session: Session) -> None:
        check_sweep(sweep)
        self.sweep, self.session, self.folder = sweep, session, session.folder
        self.quiet = session.reporter.quiet
        self.costs: list[float] = []  # the planned seconds of the server's rates still to offer
        self._counter: Counter | None = None
        self.document: dict = {
            "format": FORMAT,
            "metadata": metadata(
                {**asdict(sweep), "request_timeout_s": sweep.request_timeout_s},
                {
                    "server_cpus": sorted(session.server_cpus or []),
                    "generator_cpus": sorted(session.generator_cpus or []),
                    "generator_processes": session.processes,
                },
            ),
            "status": "running",
            "limits": asdict(sweep.limits),
            "workload": sweep.workload,
            "users": sweep.users,
            "servers": [],
        }

    @classmethod
    def made(cls, sweep: Sweep, folder: Path, quiet: bool = False) -> Sweeper:
        """A sweeper on a session of its own (the standard servers, its CPU split)."""
        return cls(
            sweep, Session(folder, Catalog.standard(), cpu_split=sweep.cpu_split, quiet=quiet)
        )

    def run(self) -> dict:
        """Sweep every server; on Ctrl-C or SIGTERM keep what was measured and re-raise."""
        self.save()
        plan = planned(self.sweep)
        parts = [("every rate of every server", sum(map(sum, plan)))]
        steps = sum(map(len, plan))
        count = self.session.reporter.counting("capacity", parts, steps, "steps", at_most=True)
        try:
            with self.session.running(), count as self._counter:
                for name, costs in zip(self.sweep.servers, plan, strict=True):
                    self.costs = costs
                    self.sweep_server(name)
            self.document["status"] = "complete"
        except KeyboardInterrupt:
            self.document["status"] = "interrupted"
            raise
        except BaseException:
            self.document["status"] = "crashed"
            raise
        finally:
            for entry in self.document["servers"]:
                if entry["status"] == "running":
                    entry["status"] = "interrupted"
                    entry.update(capacity_of(entry["steps"], self.sweep.limits, "interrupted"))
            self.save()
        return self.document

    def save(self) -> None:
        write_json(self.folder / "capacity.json", self.document)

    def say(self, message: str) -> None:
        self.session.say(message)

    @property
    def counter(self) -> Counter:
        assert self._counter is not None, "Sweeper.run counts the steps"
        return self._counter

    def rest_dropped(self, entry: dict) -> None:
        """The server's rates not offered: out of the count and the time left."""
        rest = self.costs[len(entry["steps"]) :]
        self.counter.drop(sum(rest), len(rest))
        self.costs = self.costs[: len(entry["steps"])]

    def sweep_server(self, name: str) -> None:
        """Start the server once, check its answer, step the rate up; stop and reap it."""
        catalog = self.session.catalog
        spec, workload = catalog.servers[name], catalog.workloads[self.sweep.workload]
        entry: dict = {"server": name, "description": spec.description, "status": "running"}
        entry.update(problem="", command=[], steps=[])
        entry.update(capacity_of([], self.sweep.limits, "not started"))
        self.document["servers"].append(entry)
        if not spec.supports(workload.name):
            self.give_up(entry, "skipped", f"serves only {', '.join(spec.only_workloads)}")
            return
        launch = spec.launch_options(workload)
        entry["command"] = launch["command"]
        try:
            with launched(
                **launch,
                cpus=self.session.server_cpus,
                log_dir=self.folder,
                registry=self.session.registry,
                what=f"capacity server {name}",
                check=answers(workload),
            ) as server:
                self.step_up(entry, server)
        except VerifyError as exc:
            self.give_up(entry, "failed", f"verification failed: {exc.reason}")
        except LaunchError as exc:
            self.give_up(entry, "failed", f"did not start: {str(exc)[-500:]}")

    def give_up(self, entry: dict, status: str, problem: str) -> None:
        self.rest_dropped(entry)
        entry.update(status=status, problem=problem)
        entry.update(capacity_of(entry["steps"], self.sweep.limits, problem.splitlines()[0]))
        self.save()
        mark = "[dim]skipped[/]" if status == "skipped" else "[red]✗[/]"
        self.say(f"{mark} {entry['server']}: {problem.splitlines()[0][:160]}")

    def step_up(self, entry: dict, server: ServerProcess) -> None:
        """Offer each rate in turn until a step does not pass."""
        limits = self.sweep.limits
        for rate in self.sweep.rates:
            if server.popen is not None and server.popen.poll() is not None:
                output = server.output().strip().splitlines()[-1:] or [""]
                self.give_up(
                    entry, "failed", f"the server exited ({server.popen.returncode}): {output[0]}"
                )
                return
            planned_s = self.costs[len(entry["steps"])]
            self.counter.now(f"{entry['server']}: {rate:,.6g} req/s offered", planned_s)
            step = self.judged(self.measure(server, rate))
            if step["contended"]:
                again = self.judged(self.measure(server, rate))
                again["first_attempt"] = {k: step[k] for k in FIRST_ATTEMPT}
                step = again
            entry["steps"].append(step)
            entry.update(capacity_of(entry["steps"], limits, "interrupted"))
            self.save()
            if not step["passed"]:  # the sweep ends here: its higher rates are not offered
                self.rest_dropped(entry)
            self.report_step(entry["server"], step)
            if not step["passed"]:
                break
        entry["status"] = "ok"
        entry.update(
            capacity_of(entry["steps"], limits, f"passed up to the last rate, {rate:,.6g}")
        )
        self.save()
        self.say(f"[bold]{entry['server']}[/]: capacity {describe(entry)} ({entry['stop_reason']})")

    def judged(self, step: dict) -> dict:
        """The step with its verdict, and whose: the server's, the generator's, or unclear."""
        failed_limits = bool(verdict({**step, "generator_bound": False}, self.sweep.limits))
        step["generator_bound"] = is_generator_bound(step, failed_limits)
        step["contended"] = not step["generator_bound"] and is_contended(step, failed_limits)
        step["verdict"] = verdict(step, self.sweep.limits)
        step["passed"] = not step["verdict"]
        return step

    def measure(self, server: ServerProcess, rate: float) -> dict:
        """One step, with the CPU the generator and the server's tree spent in its window."""
        server_cpu: dict[str, float] = {}

        def passed(name: str, _moment: float) -> None:
            if name in ("window_start", "window_end"):
                with contextlib.suppress(OSError):  # its accounting, as a cell counts it
                    server_cpu[name] = server.read().cpu_s

        started = time.monotonic()
        load = self.session.generator.run(
            CellLoad(
                server.url,
                self.session.catalog.workloads[self.sweep.workload].path,
                self.sweep.users,
                self.sweep.warmup_s,
                self.sweep.duration_s,
                rate=rate,
                timeout_s=self.sweep.request_timeout_s,
            ),
            passed,
        )
        spent = server_cpu.get("window_end", 0.0) - server_cpu.get("window_start", 0.0)
        step = step_record(load, spent / load.window_s if load.window_s else 0.0)
        step["wall_s"] = time.monotonic() - started  # the backlog's wait too
        return step

    def report_step(self, name: str, step: dict) -> None:
        """The step done, and its line (none when quiet)."""
        if self.quiet:
            self.counter.done()
            return
        mark = "[green]✓[/]" if step["passed"] else "[red]✗[/]"
        self.counter.done(
            f"{mark} {name} @ {step['offered_rate']:,.6g} req/s: "
            f"{step['throughput']:,.0f} answered/s, p50 {latency_ms(step, 'p50'):,.2f} ms, "
            f"p99 {latency_ms(step, 'p99'):,.2f} ms, errors {step['error_fraction']:.2%}, "
            f"locust CPU {step['generator_cpu_share']:.0%}, server CPU "
            f"{step['server_cpu_share']:.0%}"
            + (f" [red]{step['verdict']}[/]" if step["verdict"] else "")
            + (
                f" [yellow](measured twice: the generator's CPU was "
                f"{step['first_attempt']['generator_cpus_busy']:.0%} busy with other work too, "
                f"then {step['generator_cpus_busy']:.0%})[/]"
                if "first_attempt" in step
                else ""
            )
        )


def sweep_and_draw(sweep: Sweep, folder: Path, quiet: bool = False) -> dict:
    """Measure, then draw the chart; the measurements are in capacity.json whatever happens."""
    from bench.report.capacity_chart import draw

    sweeper = Sweeper.made(sweep, folder, quiet)
    try:
        return sweeper.run()
    finally:
        try:
            draw(folder)
        except Exception as exc:  # the figures are safe in capacity.json
            sweeper.say(
                f"[red]the chart could not be drawn ({type(exc).__name__}: {exc}); redraw it: "
                f"python -m bench report {folder}[/]"
            )


def run_capacity(
    folder: Path, servers: list[str] | None = None, quick: bool = False, workload: str = "hello"
) -> dict:
    """The capacity sweep for the harness's profiles: writes capacity.json, capacity.png and
    capacity.svg into `folder` (give it a folder of its own, e.g. <run>/capacity) and returns
    the document. quick: fewer, shorter steps (doubling from 50 req/s, 1 s each) on the quick
    profile's servers unless `servers` are given. Raises CapacityError for a bad server name;
    KeyboardInterrupt passes through once the steps measured so far are stored."""
    folder.mkdir(parents=True, exist_ok=True)
    return sweep_and_draw(profile_sweep(servers, quick, workload), folder)


def profile_sweep(servers: list[str] | None, quick: bool, workload: str = "hello") -> Sweep:
    """The sweep `run_capacity` makes (and the run's estimate plans)."""
    if quick:
        return Sweep(
            servers=tuple(servers or QUICK_SERVERS),
            rates=rate_steps(50, 2, DEFAULT_MAX_RATE),
            duration_s=1.0,
            warmup_s=0.3,
            workload=workload,
        )
    return Sweep(servers=tuple(servers or DEFAULT_SERVERS), workload=workload)


# the command line ---------------------------------------------------------------------------


class OneLineErrors(argparse.ArgumentParser):
    """A bad option is one line on stderr, not the usage text and then the line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


COMMAND = options.Command(
    "capacity",
    prog="python -m bench capacity",
    description="Offer each server a rising rate of requests (open loop: latency from the "
    "intended send time) until p99 or errors break their limits; its capacity is the highest "
    "rate that passed. Writes capacity.json, capacity.png and capacity.svg.",
    choices={"servers": SERVERS},
    defaults={
        "servers": DEFAULT_SERVERS,
        "start": DEFAULT_START,
        "factor": DEFAULT_FACTOR,
        "max_rate": DEFAULT_MAX_RATE,
    },
)


def build_parser() -> argparse.ArgumentParser:
    return COMMAND.parser(OneLineErrors)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        steps = args.rates or rate_steps(args.start, args.factor, args.max_rate)
        sweep = Sweep(
            servers=tuple(args.servers),
            workload=args.workload,
            users=args.users,
            rates=steps,
            limits=Criteria(args.p99_limit, args.error_limit),
            duration_s=args.duration,
            warmup_s=args.warmup,
            max_rate=args.max_rate,
            cpu_split=args.cpu_split,
        )
        check_sweep(sweep)
        folder = results_dir("capacity", args.out)
    except (CapacityError, StoreError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    console = Console(stderr=True)
    console.print(
        f"{len(sweep.servers)} server(s), rates {', '.join(f'{r:,.6g}' for r in steps)} req/s, "
        f"into {folder}",
        highlight=False,
    )
    code = 0
    try:
        document = sweep_and_draw(sweep, folder, args.quiet)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the steps measured so far are kept[/]")
        document, code = _read(folder), 130
    Console(stderr=True, width=160).print(capacity_table(document))
    print(folder / "capacity.json")
    return code


def _read(folder: Path) -> dict:
    return json.loads((folder / "capacity.json").read_text())


if __name__ == "__main__":
    sys.exit(main())
