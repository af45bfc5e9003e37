"""Telemetry: what a server's process tree holds over time, sampled beside the load.

About ten samples a second: from the tree (psutil) the parent's open descriptors and the
tree's, live children, zombies, threads and summed RSS; from the server's accounting
(bench/telemetry/accounting.py: its cgroup, or /proc where there is none) its CPU seconds,
user and system apart, its memory counted once and its page faults. The kernel's listen-queue
overflow counters are read before and after a cell. After the load the harness waits until
the server is idle (no connection open by a client, nothing queued, no child serving), so that
a leak verdict compares descriptors and zombies with their baseline only once nothing is in
progress.

The samples' clock is time.monotonic() (CLOCK_MONOTONIC, one clock for every process of the
machine), counted from the sampler's start: the load generator's window is on the same clock.
`mark()` takes a sample at once (the harness calls it as the window opens and closes), and
`cpu_between` reads the tree's CPU seconds over exactly the window, by interpolation between
the samples around its ends.

The sampler also reads how busy the server's own CPUs were (`core_busy_s`, /proc/stat, in
clock ticks), anybody's work on them: the server's own CPU share beside it says whether the
server's side ran out of CPU, and what its accounting cannot see.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from bench.contract import cpu_interrupt_ticks, cpu_ticks
from bench.telemetry.accounting import Reading, count_tree


@dataclass
class Sample:
    t: float  # seconds since the sampler started
    parent_fds: int
    tree_fds: int
    children: int  # live (not zombie) descendants
    zombies: int
    threads: int
    rss_bytes: int  # summed over the processes: a shared page counts once per process
    cpu_s: float  # CPU seconds of the tree: live, zombies and reaped children (accounting)
    user_s: float = 0.0
    system_s: float = 0.0
    memory_bytes: int = 0  # the tree's memory counted once (its cgroup's charge, or PSS)
    faults: int = 0  # page faults of the tree, reaped children's included
    core_busy_s: float = 0.0  # busy seconds of the server's CPUs, anybody's work (/proc/stat)
    core_interrupt_s: float = 0.0  # of which in interrupts (irq, softirq): no process's


TICKS = os.sysconf("SC_CLK_TCK")


def sample_tree(
    root_pid: int,
    started: float,
    cpus: set[int] | None = None,
    counter: Callable[[], Reading] | None = None,
) -> Sample | None:
    """One sample of `root_pid` and its descendants (and of `cpus`' busy time); None if the
    root is gone. `counter` reads the server's accounting (its cgroup); without one the tree
    is counted from /proc."""
    try:
        root = psutil.Process(root_pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    pids = [process.pid for process in tree]
    # the CPU counters first, all at one moment, which the sample stands for: the window's CPU
    # is interpolated between samples, so their moments must be the counters' own
    counted = time.monotonic()
    busy_before = cpu_ticks(cpus)[0] if cpus else 0
    interrupts_before = cpu_interrupt_ticks(cpus) if cpus else 0
    try:
        reading = counter() if counter is not None else count_tree(pids)
    except OSError:  # its group was removed (the server stopped meanwhile)
        return None
    busy = (busy_before + cpu_ticks(cpus)[0]) / 2 / TICKS if cpus else 0.0
    interrupts = (interrupts_before + cpu_interrupt_ticks(cpus)) / 2 / TICKS if cpus else 0.0
    moment = (counted + time.monotonic()) / 2 - started
    if reading.memory_bytes is None or reading.faults is None:  # a group without memory
        from_proc = count_tree(pids)
        reading.memory_bytes = from_proc.memory_bytes
        reading.faults = from_proc.faults
    parent_fds = tree_fds = children = zombies = threads = rss = 0
    for index, process in enumerate(tree):
        try:
            with process.oneshot():
                if process.status() == psutil.STATUS_ZOMBIE:
                    zombies += 1
                    continue
                fds = process.num_fds()
                tree_fds += fds
                if index == 0:
                    parent_fds = fds
                else:
                    children += 1
                threads += process.num_threads()
                rss += process.memory_info().rss
        except psutil.Error:
            continue  # it ended between the listing and the look: it is not there any more
    return Sample(
        moment,
        parent_fds,
        tree_fds,
        children,
        zombies,
        threads,
        rss,
        reading.cpu_s,
        reading.user_s,
        reading.system_s,
        reading.memory_bytes or 0,
        reading.faults or 0,
        busy,
        interrupts,
    )


DUTY = 0.1  # the most of a CPU the sampler's walks may take
PRECISE = {"cpu_s", "user_s", "system_s", "t"}  # stored to the ns: counters read to the µs


class Sampler:
    """Samples a process tree in a background thread until stopped."""

    def __init__(
        self,
        root_pid: int,
        interval: float = 0.1,
        cpus: set[int] | None = None,
        counter: Callable[[], Reading] | None = None,
    ) -> None:
        self.root_pid = root_pid
        self.cpus = cpus  # the server's own CPUs, whose busy time is sampled too
        self.counter = counter  # the server's accounting (None: /proc)
        self.interval = interval
        self.samples: list[Sample] = []
        self.started = time.monotonic()  # the samples' t = 0, on time.monotonic()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telemetry", daemon=True)

    def start(self) -> Sampler:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def now(self) -> float:
        """Seconds since the start, on the samples' clock (to mark the load window)."""
        return time.monotonic() - self.started

    def since_start(self, moment: float) -> float:
        """A time.monotonic() moment on the samples' clock."""
        return moment - self.started

    def mark(self) -> None:
        """Take a sample now, not at the next tick (a moment whose figures matter)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set() and self.root_pid > 0:  # 0: a server elsewhere, unseen
            began = time.monotonic()
            sample = sample_tree(self.root_pid, self.started, self.cpus, self.counter)
            if sample is not None:
                self.samples.append(sample)
            # a big tree (a thousand zombies) takes long to walk, on the generator's CPU: the
            # sampler keeps to DUTY of it, sampling less often (a mark still samples at once)
            walk = time.monotonic() - began
            self._wake.wait(max(self.interval, walk * (1 - DUTY) / DUTY))
            self._wake.clear()
        self._stop.wait()

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        return self.samples

    def series(self) -> dict[str, list]:
        """The samples as columns (compact in JSON)."""
        columns: dict[str, list] = {name: [] for name in Sample.__dataclass_fields__}
        for sample in self.samples:
            for name, value in asdict(sample).items():
                digits = 9 if name in PRECISE else 4  # CPU to the ns; the rest to 0.1 ms
                columns[name].append(round(value, digits) if isinstance(value, float) else value)
        return columns


def value_at(series: dict[str, list], name: str, t: float) -> float | None:
    """A series' value at moment `t` (seconds on the samples' clock), interpolated linearly
    between the samples on either side; None outside the samples."""
    times, values = series["t"], series[name]
    for index in range(1, len(times)):
        if times[index - 1] <= t <= times[index]:
            before, after = times[index - 1], times[index]
            share = (t - before) / (after - before) if after > before else 1.0
            return values[index - 1] + (values[index] - values[index - 1]) * share
    return None


def cpu_between(
    series: dict[str, list], start: float, end: float, name: str = "cpu_s"
) -> float | None:
    """The tree's CPU seconds from `start` to `end` (the samples' clock), or another counter's
    growth (`core_busy_s`); None when the samples do not cover both."""
    if name not in series:
        return None
    first, last = value_at(series, name, start), value_at(series, name, end)
    return None if first is None or last is None else max(last - first, 0.0)


def listen_overflows() -> dict[str, int]:
    """The kernel's ListenOverflows and ListenDrops counters (TcpExt in /proc/net/netstat)."""
    with contextlib.suppress(OSError):
        lines = Path("/proc/net/netstat").read_text().splitlines()
        for names, values in zip(lines[::2], lines[1::2], strict=False):
            if names.startswith("TcpExt:"):
                table = dict(
                    zip(names.split()[1:], (int(v) for v in values.split()[1:]), strict=False)
                )
                return {key: table.get(key, 0) for key in ("ListenOverflows", "ListenDrops")}
    return {"ListenOverflows": 0, "ListenDrops": 0}


# /proc/net/tcp states: a connection still open by its client, or still being set up
_OPEN_BY_CLIENT = {"01", "03"}  # ESTABLISHED, SYN_RECV
_LISTEN = "0A"


def port_activity(port: int) -> tuple[int, int, int]:
    """(connections to `port` still open by their client, connections waiting in its accept
    queue, connections the client closed and the server still holds: CLOSE_WAIT), from the
    kernel's socket tables. Only the server's side counts (its local port is `port`)."""
    open_ = queued = held = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) < 5 or int(fields[1].rsplit(":", 1)[1], 16) != port:
                    continue
                state = fields[3]
                if state == _LISTEN:
                    queued += int(fields[4].split(":")[1], 16)  # rx_queue: the accept backlog
                elif state in _OPEN_BY_CLIENT:
                    open_ += 1
                elif state == "08":
                    held += 1
    return open_, queued, held


def live_children(root_pid: int) -> int:
    """Descendants of `root_pid` that are not zombies (0 if it is gone)."""
    try:
        tree = psutil.Process(root_pid).children(recursive=True)
    except psutil.Error:
        return 0
    count = 0
    for process in tree:
        with contextlib.suppress(psutil.Error):
            count += process.status() != psutil.STATUS_ZOMBIE
    return count


@dataclass
class Rest:
    """How a server came to rest after the load: 'idle' (no connection open by a client,
    queued, or closed by its client and still held, no child serving), 'stalled' (not idle,
    but nothing moved for a second: a server that cannot accept, or that keeps the connections
    its clients closed) or 'busy' (still making progress when the wait ended)."""

    state: str
    waited_s: float
    open_connections: int
    queued: int
    held: int  # connections the client closed and the server still holds (CLOSE_WAIT)
    live_children: int


def wait_idle(
    root_pid: int,
    port: int,
    children: int,
    least: float,
    most: float,
    still_for: float = 1.0,
) -> Rest:
    """Wait at least `least` seconds, then until the server is idle, or stalled for
    `still_for` seconds, at most `most` seconds in all."""
    began = time.monotonic()
    time.sleep(least)
    last, since = None, time.monotonic()
    while True:
        open_, queued, held = port_activity(port)
        live = live_children(root_pid)
        waited = time.monotonic() - began
        now = (open_, queued, held, live)
        if not open_ and not queued and not held and live <= children:
            return Rest("idle", waited, open_, queued, held, live)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= still_for:
            return Rest("stalled", waited, open_, queued, held, live)
        if waited >= most:
            return Rest("busy", waited, open_, queued, held, live)
        time.sleep(0.05)


def leak_verdict(
    samples: list[Sample], load_start: float, load_end: float, rest: Rest | None = None
) -> dict:
    """Did descriptors and zombies return to their pre-load baseline once the server came to
    rest (idle, or stalled)? A server still making progress reads 'still busy', never 'leaks':
    the descriptor it holds may be a connection it is serving."""
    before = [s for s in samples if s.t <= load_start]
    after = [s for s in samples if s.t >= load_end]
    if not before or not after:
        return {"verdict": "unknown", "reason": "not enough samples around the load window"}
    baseline, final = before[-1], after[-1]
    fds_left = final.parent_fds - baseline.parent_fds
    zombies_left = final.zombies - baseline.zombies
    children_left = final.children - baseline.children
    leaked = fds_left > 0 or zombies_left > 0
    return {
        "verdict": "still busy"  # still serving, or clients still connected: not judged
        if rest is not None and (rest.state == "busy" or rest.open_connections)
        else ("leaks" if leaked else "clean"),
        "rest": asdict(rest) if rest is not None else None,
        "parent_fds_before": baseline.parent_fds,
        "parent_fds_after": final.parent_fds,
        "zombies_before": baseline.zombies,
        "zombies_after": final.zombies,
        "children_before": baseline.children,
        "children_after": final.children,
        "fds_left": fds_left,
        "zombies_left": zombies_left,
        "children_left": children_left,
        "peak_zombies": max(s.zombies for s in samples),
        "peak_parent_fds": max(s.parent_fds for s in samples),
    }
