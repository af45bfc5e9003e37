"""Measuring one cell on a started, verified server: the load, the server watched before,
during and after it, the verdicts, and the cell's record (not yet stored)."""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
from dataclasses import asdict, dataclass
from typing import Literal

import psutil

from bench.catalog import ServerSpec, Workload
from bench.contract import CPU_CONTENDED
from bench.faults import cell_verdict, check_still_answers
from bench.launch import Remote, ServerProcess
from bench.load import CellLoad, LoadResult, generator_verdict
from bench.plan import Cell, Settings
from bench.record import (
    Accounting,
    CellRecord,
    HarnessUse,
    Leak,
    Load,
    Memory,
    Saturation,
    Series,
    ServerReports,
    ServiceDemand,
    Telemetry,
    Window,
    Wrk,
    from_json,
)
from bench.run.session import Session
from bench.telemetry import (
    Rest,
    Sample,
    Sampler,
    cpu_between,
    leak_verdict,
    listen_overflows,
    live_children,
    wait_idle,
)
from bench.telemetry.accounting import TICK_US, Method
from bench.wrk import wrk_cell


@dataclass
class Observed:
    """What watching the server around the load gave."""

    load: LoadResult
    samples: list[Sample]
    series: dict[str, list]
    window: Window
    rest: Rest | None
    peak: int | None  # its group's peak memory, where the kernel keeps one
    overflows: dict[str, int] | None  # the listen queue's overflows and drops over the cell
    harness_cpu_s: float | None  # the harness's own CPU over the window


def measure(
    session: Session,
    settings: Settings,
    cell: Cell,
    spec: ServerSpec,
    server: ServerProcess | Remote,
    command: list[str],
    cap: int | None,
    cpus: set[int] | None = None,
) -> CellRecord:
    """Measure one cell on a started, verified server: its record, not yet stored."""
    workload = session.catalog.workloads[cell.workload]
    started = time.time()
    local = server if isinstance(server, ServerProcess) else None  # None: elsewhere
    if local is not None and spec.kind in ("peer", "added"):  # workers may still be starting
        steady(local)
    seen = observe(session, settings, cell, workload, server, local, cap, cpus)
    load, window, series = seen.load, seen.window, seen.series
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
            session.generator_cpus,
        )
    watched = local is not None
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
        memory=memory(series, seen.peak, method, cell.users) if method else None,
        saturation=saturation(series, window, cpus, bound) if watched else None,
        harness=HarnessUse(cpus=sorted(os.sched_getaffinity(0)), cpu_s=seen.harness_cpu_s),
        telemetry=Telemetry(interval_s=0.1, series=from_json(Series, series)) if watched else None,
        leak=from_json(
            Leak, leak_verdict(seen.samples, window.load_start, window.load_end, seen.rest)
        )
        if watched
        else None,
        listen_overflows=seen.overflows,
        server_output_tail="",
        server_reports=ServerReports(),
        wrk=from_json(Wrk, checked) if checked else None,
        server_cpus=sorted(cpus or []),
    )


def observe(
    session: Session,
    settings: Settings,
    cell: Cell,
    workload: Workload,
    server: ServerProcess | Remote,
    local: ServerProcess | None,
    cap: int | None,
    cpus: set[int] | None,
) -> Observed:
    """The load on the server, its process tree sampled from before the load until it is at
    rest after it (a server elsewhere: only the load)."""
    group = local.group if local is not None else None
    sampler = Sampler(
        server.pid, interval=0.1, cpus=cpus, counter=group.read if group else None
    ).start()
    moments: dict[str, float] = {}
    harness_cpu: dict[str, float] = {}

    def passed(name: str, moment: float) -> None:  # the generator passed a moment of its window
        moments[name] = moment
        harness_cpu[name] = time.process_time()  # the harness's own CPU, its sampler's too
        sampler.mark()

    at_rest = live_children(server.pid) if local is not None else 0
    rest: Rest | None = None
    try:  # the sampler's thread ends whatever happens (a Ctrl-C in the load, say)
        overflows_before = listen_overflows()
        time.sleep(0.1)  # a baseline before the load
        load = session.generator.run(
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
            grace_s=settings.generator_grace_s,
        )
        load_end = sampler.now()
        sampler.mark()
        if local is not None:  # a leak is judged once nothing is in progress: wait until then
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
    return Observed(
        load,
        samples,
        sampler.series(),
        window_of(sampler, load, moments, load_end),
        rest,
        peak,
        {  # this machine's counters: a server elsewhere has its own, unseen
            key: overflows_after[key] - overflows_before[key] for key in overflows_before
        }
        if local is not None
        else None,
        round(harness_cpu["window_end"] - harness_cpu["window_start"], 6)
        if {"window_start", "window_end"} <= harness_cpu.keys()
        else None,
    )


def window_of(sampler: Sampler, load: LoadResult, moments: dict[str, float], end: float) -> Window:
    """The cell's moments on the telemetry's clock (seconds since the sampler started): the
    users' start, the recorded window, the end of the load."""
    start = moments.get("window_start", load.window[0] if load.window else 0.0)
    return Window(
        origin=sampler.started,
        load_start=sampler.since_start(moments.get("started", load.started or start)),
        start=sampler.since_start(start),
        end=sampler.since_start(load.window[1] if load.window else start),
        load_end=end,
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
