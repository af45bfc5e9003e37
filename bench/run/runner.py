"""Run: the stages of a run, cell after cell: launch, verify, warm up and load, settle, store.

Data flows one way: the plan decides the cells; each cell's figures go into run.json as soon as
the cell ends; nothing is computed from figures here that the report could not recompute.
Every exit path (normal end, a failed cell, Ctrl-C or SIGTERM, a crash) stops and reaps what
was started; processes a crashed run left behind are found and stopped by the next run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import psutil
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench.catalog import SERVERS, WORKLOADS, ServerSpec
from bench.contract import CPU_CONTENDED
from bench.faults import (
    Interrupted,
    cell_verdict,
    check_still_answers,
    interrupt_on_first_signal,
    restore_handlers,
)
from bench.launch import (
    LaunchError,
    Remote,
    ServerProcess,
    VerifyError,
    cpu_plan,
    cpus_for,
    launched,
    reached,
    signals_deferred,
)
from bench.load import (
    CellLoad,
    Distribution,
    Generator,
    GeneratorError,
    LoadResult,
    generator_verdict,
)
from bench.plan import Cell, Plan
from bench.record import (
    Accounting,
    Ceiling,
    CellRecord,
    HarnessUse,
    Leak,
    Load,
    MachineSpeed,
    Memory,
    Metadata,
    PlanRecord,
    Probe,
    RunRecord,
    Saturation,
    Series,
    ServerReports,
    ServiceDemand,
    Telemetry,
    Window,
    Wrk,
    from_json,
    to_json,
)
from bench.stats import cpu_us
from bench.store import metadata, write_json, write_run
from bench.telemetry import (
    Rest,
    Sampler,
    cpu_between,
    leak_verdict,
    listen_overflows,
    live_children,
    wait_idle,
)
from bench.telemetry.accounting import TICK_US, Method, sweep_leftovers
from bench.telemetry.machine import STEPS, probe
from bench.verify import answers
from bench.wrk import wrk_cell

REGISTRY = ".processes.json"  # in the results folder: what is running, for after a crash


class Registry:
    """The process groups this run started, on disk, so that a later run can find leftovers."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / REGISTRY
        self.entries: dict[str, dict] = {}

    def add(self, pid: int, what: str) -> None:
        with contextlib.suppress(psutil.Error):
            created = psutil.Process(pid).create_time()
            self.entries[str(pid)] = {"what": what, "created": created}
            self._save()

    def remove(self, pid: int) -> None:
        if self.entries.pop(str(pid), None) is not None:
            self._save()

    def _save(self) -> None:
        write_json(self.path, self.entries, indent=None)


def stop_leftovers(results_root: Path) -> list[str]:
    """Find process groups that earlier runs registered and left running; stop them; say so."""
    found = []
    for registry in results_root.glob(f"*/{REGISTRY}"):
        try:
            entries = json.loads(registry.read_text())
        except (OSError, ValueError):
            continue
        for pid, entry in entries.items():
            try:
                process = psutil.Process(int(pid))
                if abs(process.create_time() - entry["created"]) > 0.01:
                    continue  # the pid was reused by an unrelated process: not ours
            except (psutil.Error, ValueError, KeyError):
                continue
            found.append(f"{entry.get('what', '?')} (pid {pid}) left by {registry.parent.name}")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(pid), signal.SIGKILL)
        registry.unlink(missing_ok=True)
    return found


class Runner:
    def __init__(self, plan: Plan, folder: Path, quiet: bool = False) -> None:
        self.plan = plan
        self.settings = plan.settings
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.quiet = quiet
        self.console = Console(stderr=True, quiet=False)
        settings = self.settings
        reserve = max((SERVERS[name].workers for name in settings.servers), default=1)
        self.server_cpus, self.generator_cpus = cpu_plan(
            settings.cpu_split, settings.server_cpus, settings.generator_cpus, reserve
        )
        if settings.target and not settings.server_cpus:  # no server here: every CPU loads it
            self.server_cpus = None
            self.generator_cpus = set(settings.generator_cpus) or os.sched_getaffinity(0)
        self.processes = settings.generator_processes or (
            len(self.generator_cpus) if self.generator_cpus else 1
        )
        self.registry = Registry(folder)
        self.distribution = Distribution(
            settings.generator_workers, settings.remote_workers, settings.master_bind
        )
        self.generator = Generator(
            self.processes,
            self.generator_cpus,
            folder / "generator",
            self.registry,
            self.distribution,
            on_wait=lambda line: self.say(f"[yellow]{line}[/]"),
        )
        self.record = RunRecord(
            metadata=from_json(
                Metadata,
                metadata(
                    self.settings.as_dict(),
                    {
                        "server_cpus": sorted(self.server_cpus or []),
                        "generator_cpus": sorted(self.generator_cpus or []),
                        "generator_processes": self.generator.load_processes,
                        "generator_workers": {
                            "local": self.distribution.local,
                            "remote": self.distribution.remote,
                            "master": self.distribution.bind if self.distribution.workers else "",
                        },
                    },
                ),
            ),
            plan=from_json(PlanRecord, plan.as_dict()),
            status="running",
            leftovers_found=[],
            generator_ceiling={},
            machine_speed=MachineSpeed(steps=STEPS, probes=[]),
            cells=[],
        )

    # the whole run --------------------------------------------------------------------------

    def run(self) -> int:
        previous = interrupt_on_first_signal()
        self.record.leftovers_found = stop_leftovers(self.folder.parent) + [
            f"a server's cgroup: {found}" for found in sweep_leftovers()
        ]
        for line in self.record.leftovers_found:
            self.say(f"[yellow]found and stopped a leftover of an earlier run:[/] {line}")
        for note in self.plan.notes:
            self.say(f"[dim]{note}[/]")
        self.save()
        code = 0
        unpin = pin_harness(self.generator_cpus if self.server_cpus else None)
        try:
            with self._progress() as progress:
                ceilings = self.settings.modes if self.settings.ceiling else ()
                task = progress.add_task("cells", total=len(self.plan.cells) + len(ceilings))
                progress.update(task, description="starting the load generator")
                try:
                    self.generator.start()
                except GeneratorError as exc:  # each cell tries again, and fails with the reason
                    self.say(f"[red]the load generator did not start:[/] {exc}")
                for mode in ceilings:
                    progress.update(task, description=f"generator ceiling ({mode})")
                    self.measure_ceiling(mode)
                    progress.advance(task)
                self.measure_machine("before")
                for index, cell in enumerate(self.plan.cells):
                    if index and cell.repetition != self.plan.cells[index - 1].repetition:
                        self.measure_machine(f"before round {cell.repetition}")
                    progress.update(task, description=cell.key)
                    self.run_one(cell)
                    progress.advance(task)
                self.measure_machine("after")
            self.record.status = "complete"
        except (KeyboardInterrupt, Interrupted):
            self.record.status = "interrupted"
            self.say("[yellow]interrupted: the cells completed so far are kept[/]")
            code = 130
        finally:
            with signals_deferred():
                self.generator.close()
            unpin()
            restore_handlers(previous)
            self.save(new_cells=None)
            self.registry.path.unlink(missing_ok=True)
        failed = sum(cell.status == "failed" for cell in self.record.cells)
        self.say(
            f"{len(self.record.cells)} cells, {failed} failed; stored in {self.folder / 'run.json'}"
        )
        return code

    def _progress(self) -> Progress:
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

    def say(self, message: str) -> None:
        self.console.print(message, highlight=False, soft_wrap=True)

    def save(self, new_cells: int | None = 1) -> None:
        """run.json as it stands; the schema checks the cell just added (every cell, at the
        end: new_cells=None)."""
        write_run(
            self.folder,
            to_json(self.record),
            min(new_cells, len(self.record.cells)) if new_cells is not None else None,
        )

    # one cell, on a server of its own ----------------------------------------------------------

    def run_one(self, cell: Cell) -> None:
        """Start a fresh server, check its answer, measure the cell, stop and reap the server,
        then record the cell with what the server said of itself (its accept failures)."""
        spec, workload = SERVERS[cell.server], WORKLOADS[cell.workload]
        cap = self.settings.request_cap if spec.leaking else None
        launch = spec.launch_options(workload, cap) if spec.kind != "remote" else {"command": []}
        command = launch["command"]
        record, server = None, None
        cpus = self.cpus_for(spec)
        check = answers(workload, cell.mode == "close")
        try:
            with (
                reached(self.settings.target, check)
                if spec.kind == "remote"
                else launched(
                    **launch,
                    cpus=cpus,
                    log_dir=self.folder,
                    registry=self.registry,
                    what=f"server {spec.name}",
                    timeout=self.settings.start_timeout_s,
                    check=check,
                )
            ) as server:
                record = self.run_cell(cell, spec, server, command, cap, cpus)
        except VerifyError as exc:
            self.record_failure(
                cell, command, f"verification failed: {exc.reason}", str(exc)[-2000:]
            )
            return
        except LaunchError as exc:
            self.record_failure(cell, command, f"did not start: {exc.reason}", str(exc)[-2000:])
            return
        said = server.said if server is not None else ""
        if record is not None:
            record.server_reports = server_reports(said)
            record.server_output_tail = said[-2000:] if record.status == "failed" else ""
            left = sorted(getattr(server, "left_running", ()))
            record.left_running = left  # in its cgroup still, after the stop: said
            if left:
                self.say(
                    f"[red]{cell.key}: {len(left)} process(es) of its cgroup outlived "
                    f"the stop: {', '.join(map(str, left[:10]))}[/]"
                )
            self.record.cells.append(record)
            self.save()
            self.report_cell(record)

    def cpus_for(self, spec: ServerSpec) -> set[int] | None:
        """A server's CPUs: as many of the servers' CPUs as it has workers (all of them when the
        user named them)."""
        return cpus_for(self.server_cpus, spec.workers, named=bool(self.settings.server_cpus))

    def run_cell(
        self,
        cell: Cell,
        spec: ServerSpec,
        server: ServerProcess | Remote,
        command: list[str],
        cap: int | None,
        cpus: set[int] | None = None,
    ) -> CellRecord:
        """Measure one cell on a started, verified server: its record, not yet stored."""
        settings = self.settings
        workload = WORKLOADS[cell.workload]
        started = time.time()
        group = getattr(server, "group", None)
        sampler = Sampler(
            server.pid, interval=0.1, cpus=cpus, counter=group.read if group else None
        ).start()
        moments: dict[str, float] = {}
        harness_cpu: dict[str, float] = {}

        def passed(name: str, moment: float) -> None:  # the generator passed a moment of its window
            moments[name] = moment
            harness_cpu[name] = time.process_time()  # the harness's own CPU, its sampler's too
            sampler.mark()

        local = server if isinstance(server, ServerProcess) else None  # None: elsewhere
        if local is not None and spec.kind in ("peer", "added"):  # workers may still be starting
            steady(local)
        watched = local is not None  # a server elsewhere: no process here to watch
        at_rest = live_children(server.pid) if watched else 0
        rest: Rest | None = None
        try:  # the sampler's thread ends whatever happens (a Ctrl-C in the load, say)
            overflows_before = listen_overflows()
            time.sleep(0.1)  # a baseline before the load
            load = self._run_load(
                CellLoad(
                    server.url,
                    workload.path,
                    cell.users,
                    settings.warmup_s,
                    settings.duration_s,
                    close=cell.mode == "close",
                    rate=cell.rate,
                    max_requests=cap,
                    timeout_s=settings.request_timeout_s,
                    body=workload.body,
                    client=settings.client,
                    status=workload.status,
                ),
                passed,
            )
            load_end = sampler.now()
            sampler.mark()
            if watched:  # a leak is judged once nothing is in progress: wait until then
                rest = wait_idle(
                    server.pid, server.port, at_rest, settings.settle_s, settings.settle_s + 5.0
                )
                sampler.mark()
                time.sleep(0.05)  # that sample taken
            else:
                time.sleep(settings.settle_s)
            peak = group.peak_bytes() if group else None
        finally:
            samples = sampler.stop()
        overflows_after = listen_overflows()
        series = sampler.series()
        window = self.window(sampler, load, moments, load_end)
        method = local.accounting if local is not None else None
        exited = server.popen.poll() if server.popen else None
        hung = ""  # the leaking servers stop answering by design (EMFILE, the cap): not probed
        if exited is None and not spec.leaking:
            hung = check_still_answers(
                server, workload, cell.mode == "close", settings.request_timeout_s
            )
        status, reason = cell_verdict(load, exited, cap, hung)
        cause, bound = generator_verdict(load.generator_cpu_share, load.generator_cpus_busy)
        checked = None
        wants_wrk = settings.crosscheck or (bound and settings.wrk_bound_cells)
        if wants_wrk and status == "ok" and not cell.rate and not spec.leaking:
            checked = wrk_cell(  # the same cell again, with wrk (None when wrk is absent)
                server.url,
                workload.path,
                cell.users,
                settings.duration_s,
                cell.mode == "close",
                self.generator_cpus,
            )
        return CellRecord(
            **planned(cell),
            status=status,
            reason=reason,
            command=command,
            request_cap=cap,
            started=started,
            load=from_json(Load, asdict(load)),
            generator_bound=bool(bound),
            generator_bound_cause=cause,
            generator_bound_reason=bound,
            window=window,
            service_demand=service_demand(series, window, load, method) if watched else None,
            accounting=from_json(Accounting, asdict(method)) if method else None,
            memory=memory(series, peak, method, cell.users) if method else None,
            saturation=saturation(series, window, cpus, bound) if watched else None,
            harness=HarnessUse(
                cpus=sorted(os.sched_getaffinity(0)),
                cpu_s=round(harness_cpu["window_end"] - harness_cpu["window_start"], 6)
                if {"window_start", "window_end"} <= harness_cpu.keys()
                else None,
            ),
            telemetry=Telemetry(interval_s=0.1, series=from_json(Series, series))
            if watched
            else None,
            leak=from_json(Leak, leak_verdict(samples, window.load_start, window.load_end, rest))
            if watched
            else None,
            listen_overflows={  # this machine's counters: a target's are not seen
                key: overflows_after[key] - overflows_before[key] for key in overflows_before
            }
            if watched
            else None,
            server_output_tail="",
            server_reports=ServerReports(),
            wrk=from_json(Wrk, checked) if checked else None,
            server_cpus=sorted(cpus or []),
        )

    def _run_load(
        self, load: CellLoad, on_event: Callable[[str, float], None] | None = None
    ) -> LoadResult:
        """One load on the run's generator (started afresh when a fault stopped it)."""
        return self.generator.run(load, on_event, grace_s=self.settings.generator_grace_s)

    @staticmethod
    def window(sampler: Sampler, load: LoadResult, moments: dict[str, float], end: float) -> Window:
        """The cell's moments on the telemetry's clock (seconds since the sampler started):
        the users' start, the recorded window, the end of the load."""
        start = moments.get("window_start", load.window[0] if load.window else 0.0)
        return Window(
            origin=sampler.started,
            load_start=sampler.since_start(moments.get("started", load.started or start)),
            start=sampler.since_start(start),
            end=sampler.since_start(load.window[1] if load.window else start),
            load_end=end,
        )

    def record_failure(self, cell: Cell, command: list[str], reason: str, output: str) -> None:
        self.record.cells.append(
            CellRecord(
                **planned(cell),
                status="failed",
                reason=reason,
                command=command,
                request_cap=None,
                started=time.time(),
                load=None,
                generator_bound=False,
                generator_bound_cause="",
                generator_bound_reason="",
                window=None,
                service_demand=None,
                telemetry=None,
                leak=None,
                listen_overflows=None,
                server_output_tail=output,
                server_reports=server_reports(output),
                wrk=None,
                server_cpus=sorted(self.cpus_for(SERVERS[cell.server]) or []),
            )
        )
        self.save()
        self.say(f"[red]✗[/] {cell.key}: {reason.splitlines()[0][:160]}")

    def report_cell(self, record: CellRecord) -> None:
        load = record.load
        if record.status != "ok" or load is None:
            self.say(f"[red]✗[/] {record.key}: {record.reason[:160]}")
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

    def measure_machine(self, when: str) -> None:
        """The machine's speed now, on the server's CPUs (bench/telemetry/machine.py)."""
        seconds = probe(self.server_cpus)
        assert self.record.machine_speed is not None
        self.record.machine_speed.probes.append(Probe(when=when, seconds=seconds))

    # the generator's ceiling ---------------------------------------------------------------------

    def measure_ceiling(self, mode: str) -> None:
        """Context, not a verdict: what this client delivers here against the fastest server
        (hello, most users), per connection mode. Whether a cell measured the generator is told
        from the generator's own CPU during that cell's window (bench/load.py)."""
        spec, workload = SERVERS["asyncio"], WORKLOADS["hello"]
        users = max(max(self.settings.users), 16)
        with launched(
            **spec.launch_options(workload),
            cpus=self.cpus_for(spec),
            log_dir=self.folder,
            registry=self.registry,
            what="ceiling server",
        ) as server:
            load = self._run_load(
                CellLoad(
                    server.url,
                    workload.path,
                    users,
                    self.settings.warmup_s,
                    self.settings.duration_s,
                    close=mode == "close",
                    timeout_s=self.settings.request_timeout_s,
                    body=workload.body,
                    client=self.settings.client,
                )
            )
        self.record.generator_ceiling[mode] = Ceiling(
            server=spec.name,
            workload=workload.name,
            users=users,
            client=self.settings.client,
            throughput=load.throughput,
            generator_cpu_share=load.generator_cpu_share,
            generator_cpus_busy=load.generator_cpus_busy,
            processes=self.generator.load_processes,
            error=load.error,
        )
        self.save()
        self.say(
            f"generator ceiling ({mode}): {load.throughput:,.0f} req/s against {spec.name} "
            f"({users} users, {self.generator.load_processes} generator process(es), "
            f"{self.settings.client} client, locust at {load.generator_cpu_share:.0%} of its CPU)"
        )


ACCEPT_FAILURES = re.compile(r"accept failures so far: (\d+)(?: \(([^)]*)\))?")
IN_PROGRESS = re.compile(r"requests in progress at most: (\d+)")


def server_reports(output: str) -> ServerReports:
    """What the server said of itself: its accept failures, total and by errno, and the most
    requests it had in progress at once, from the last lines that counted them
    (servers/blocking.py)."""
    most = IN_PROGRESS.findall(output)
    reports = ServerReports(most_in_progress=int(most[-1]) if most else None)
    found = ACCEPT_FAILURES.findall(output)
    if not found:
        return reports
    total, kinds = found[-1]
    by_errno = {}
    for part in filter(None, (p.strip() for p in kinds.split(","))):
        name, _, count = part.partition(": ")
        by_errno[name] = int(count)
    reports.accept_failures, reports.accept_failures_by_errno = int(total), by_errno
    return reports


def planned(cell: Cell) -> dict:
    """The fields a cell's record takes from the plan."""
    return {**asdict(cell), "key": cell.key}


def steady(server: ServerProcess, timeout: float = 3.0) -> None:
    """Wait until the server's tree and its parent's descriptors stop changing (two looks 0.1 s
    apart agree): a server that listens before its workers have started (gunicorn, hypercorn)
    would otherwise show their start as a leak, the baseline taken before it."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        tree = server.tree()
        with contextlib.suppress(psutil.Error, IndexError):
            now = (len(tree), tree[0].num_fds())
            if now == last:
                return
            last = now
        time.sleep(0.1)


def service_demand(
    series: dict[str, list], window: Window, load: LoadResult, method: Method | None = None
) -> ServiceDemand | None:
    """The server's CPU seconds per request over the window, its whole tree counted (live
    processes, zombies, reaped children), user and system apart, and its page faults: a cost,
    comparable between servers at one load. Its inverse is a lower bound of capacity, not a
    forecast (a server spends more CPU per request at light load than when saturated). Each
    figure with its error: one unit of its counter at each end of the window, per request.
    Beside it, the busy time of the server's own CPUs per request (clock ticks), which holds
    anybody's work on them."""
    answered = load.answered_in_window if load.offered_rate else load.requests
    start, end = window.start, window.end
    cpu = cpu_between(series, start, end)
    if cpu is None or not answered:
        return None
    unit = method.cpu_resolution_us if method else TICK_US
    split = method.split_resolution_us if method else TICK_US

    def per_request(name: str, scale: float = 1e6) -> float | None:
        if name in ("user_s", "system_s") and method is not None and not method.split:
            return None  # not to be trusted (bench/telemetry/accounting.py proc_method)
        grown = cpu_between(series, start, end, name)
        return None if grown is None else round(grown / answered * scale, 3)

    # the server's CPUs' busy time: measured where it was pinned (its counter runs since boot),
    # even when a short window held no tick of it
    pinned = any(series.get("core_busy_s") or [])
    busy = cpu_between(series, start, end, "core_busy_s") if pinned else None
    return ServiceDemand(
        cpu_s=round(cpu, 9),
        requests=answered,
        us_per_request=round(cpu / answered * 1e6, 3),
        error_us_per_request=round(2 * unit / answered, 6),
        user_us_per_request=per_request("user_s"),
        system_us_per_request=per_request("system_s"),
        # the kernel splits user from system by sampling at its tick: over n ticks of CPU
        # the split is off by about sqrt(n) ticks, never less than the two ends' ticks
        split_error_us_per_request=round(
            max(2 * split, math.sqrt(cpu * 1e6 * split)) / answered, 6
        ),
        faults_per_request=per_request("faults", 1.0),
        # the server's own CPUs, busy with anything (ticks of /proc/stat)
        core_us_per_request=round(busy / answered * 1e6, 3) if busy is not None else None,
        core_error_us_per_request=round(2 * TICK_US / answered, 6) if busy is not None else None,
        # of that busy time, interrupts (irq, softirq): the kernel's work charged to no process
        core_interrupt_us_per_request=per_request("core_interrupt_s") if busy is not None else None,
    )


def memory(series: dict[str, list], peak: int | None, method: Method, users: int) -> Memory:
    """The tree's memory counted once (its cgroup's peak where the kernel keeps one, else the
    most of its samples), per user too; summed RSS beside it, labelled as such."""
    counted = max(series.get("memory_bytes") or [0])
    most = peak if peak else counted
    rss = max(series.get("rss_bytes") or [0])
    return Memory(
        method=method.memory,
        peak_bytes=most,
        peak_is="the kernel's own peak" if peak else "the most of the samples",
        peak_per_user_bytes=round(most / max(users, 1)),
        summed_rss_peak_bytes=rss,
    )


def saturation(
    series: dict[str, list], window: Window, cpus: set[int] | None, generator: str
) -> Saturation:
    """Which side ran out of CPU over the window: the server's CPUs' busy share (anybody's
    work) and the server's own share of them, beside the generator's verdict."""
    span = window.end - window.start
    count = len(cpus) if cpus else 1  # unpinned: judged against one whole CPU
    own = cpu_between(series, window.start, window.end)
    busy = cpu_between(series, window.start, window.end, "core_busy_s") if cpus else None
    own_share = round(own / span / count, 4) if own is not None and span > 0 else None
    busy_share = round(busy / span / count, 4) if busy is not None and span > 0 else None
    # pinned: its CPUs had no time left, whoever took it; unpinned: it used a whole CPU
    server_out = (busy_share if busy_share is not None else own_share or 0.0) >= CPU_CONTENDED
    side = RAN_OUT[(server_out, bool(generator))]
    return Saturation(server_cpus_busy=busy_share, server_cpu_share=own_share, ran_out=side)


# (the server's CPUs ran out, the generator's did): who ran out of CPU
RAN_OUT: dict[tuple[bool, bool], Literal["server", "generator", "both", "neither"]] = {
    (True, True): "both",
    (True, False): "server",
    (False, True): "generator",
    (False, False): "neither",
}


def pin_harness(cpus: set[int] | None) -> Callable[[], None]:
    """Pin every thread of this harness (its sampler's too) to `cpus`, the load generator's,
    so that watching a server takes none of the server's CPU; the way back, to call at the
    end. None: leave it where it is."""
    if not cpus:
        return lambda: None
    threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    before = {tid: os.sched_getaffinity(tid) for tid in threads}
    for tid in threads:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, cpus)

    def unpin() -> None:
        for tid, mask in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, mask)

    return unpin
