"""Telemetry: what a server's process tree holds over time, sampled beside the load.

About ten samples a second of the whole tree (psutil): the parent's open descriptors and the
tree's, live children, zombies, threads, RSS and CPU seconds. The kernel's listen-queue overflow
counters are read before and after a cell. Sampling goes on for a settle period after the load,
so a leak verdict can say whether descriptors and zombies went back to their baseline.

The samples' clock is time.monotonic() (CLOCK_MONOTONIC, one clock for every process of the
machine), counted from the sampler's start: the load generator's window is on the same clock.
`mark()` takes a sample at once (the harness calls it as the window opens and closes), and
`cpu_between` reads the tree's CPU seconds over exactly the window, by interpolation between
the samples around its ends.

A tree's CPU counts every process once: each live process and each zombie its own user and
system time, plus the time of the children it has reaped (`children_user`, `children_system`):
a child that lived and was reaped between two samples is counted by its parent. One cost is
missing until a child is reaped: a zombie's /proc times leave out the kernel's work of tearing
its process down (measured here: 0.96 s for 50 forked children as zombies, 1.29 s once reaped).
So the sampler also reads how busy the server's own CPUs were (`core_busy_s`, /proc/stat): a
server pinned alone to its CPU that leaves zombies shows there what its processes do not.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from bench.contract import cpu_ticks


@dataclass
class Sample:
    t: float  # seconds since the sampler started
    parent_fds: int
    tree_fds: int
    children: int  # live (not zombie) descendants
    zombies: int
    threads: int
    rss_bytes: int
    cpu_s: float  # user + system CPU seconds of the tree: live, zombies and reaped children
    core_busy_s: float = 0.0  # busy seconds of the server's CPUs, anybody's work (/proc/stat)


TICKS = os.sysconf("SC_CLK_TCK")


def sample_tree(root_pid: int, started: float, cpus: set[int] | None = None) -> Sample | None:
    """One sample of `root_pid` and its descendants (and of `cpus`' busy time); None if the
    root is gone."""
    walk_started = time.monotonic()
    busy_before = cpu_ticks(cpus)[0] if cpus else 0
    try:
        root = psutil.Process(root_pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    parent_fds = tree_fds = children = zombies = threads = rss = 0
    cpu = 0.0
    for index, process in enumerate(tree):
        try:
            with process.oneshot():
                times = process.cpu_times()  # a zombie's too: its time is not lost
                cpu += times.user + times.system + times.children_user + times.children_system
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
    busy = (busy_before + cpu_ticks(cpus)[0]) / 2 / TICKS if cpus else 0.0
    # a big tree (hundreds of zombies) takes a while to walk: the sample stands for its middle
    moment = (walk_started + time.monotonic()) / 2 - started
    return Sample(moment, parent_fds, tree_fds, children, zombies, threads, rss, cpu, busy)


class Sampler:
    """Samples a process tree in a background thread until stopped."""

    def __init__(self, root_pid: int, interval: float = 0.1, cpus: set[int] | None = None) -> None:
        self.root_pid = root_pid
        self.cpus = cpus  # the server's own CPUs, whose busy time is sampled too
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
            sample = sample_tree(self.root_pid, self.started, self.cpus)
            if sample is not None:
                self.samples.append(sample)
            self._wake.wait(self.interval)
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
                columns[name].append(round(value, 4) if isinstance(value, float) else value)
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


def leak_verdict(samples: list[Sample], load_start: float, load_end: float) -> dict:
    """Did descriptors and zombies return to their pre-load baseline after the settle period?"""
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
        "verdict": "leaks" if leaked else "clean",
        "parent_fds_before": baseline.parent_fds,
        "parent_fds_after": final.parent_fds,
        "zombies_before": baseline.zombies,
        "zombies_after": final.zombies,
        "children_after": final.children,
        "fds_left": fds_left,
        "zombies_left": zombies_left,
        "children_left": children_left,
        "peak_zombies": max(s.zombies for s in samples),
        "peak_parent_fds": max(s.parent_fds for s in samples),
    }
