"""A harness killed with SIGKILL in the middle of a run leaves nothing behind: no `finally` of
its own runs, yet within seconds no process it started is alive (its servers' death signal and
wardens, bench/telemetry/lifetime.py), and run.json holds every cell finished before the kill.

Time bounds are safety checks with margins for a shared machine, never claims about speed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from bench.launch import REPO_ROOT, reap_group
from bench.run import REGISTRY, stop_leftovers
from bench.store import load_run
from bench.telemetry.accounting import PREFIX, harness_id, parents
from bench.telemetry.lifetime import Warden, child_setup
from tests.conftest import reap_zombie_children

GONE_WITHIN_S = 5.0  # after the kill: the wardens take milliseconds
REACH_WITHIN_S = 60.0  # the harness reaches the second cell's load (about 6 s alone)


@dataclass
class Seen:
    """Every process of the run seen while it ran, and where it lived."""

    processes: dict[int, float] = field(default_factory=dict)  # pid: create time
    commands: dict[int, str] = field(default_factory=dict)
    groups: set[int] = field(default_factory=set)  # their process groups
    cgroups: set[Path] = field(default_factory=set)  # the servers' cgroup directories
    grandchildren: int = 0  # the most children a server had at one look

    def look(self, harness: psutil.Process, folder: Path) -> None:
        with contextlib.suppress(psutil.Error):
            for process in [harness, *harness.children(recursive=True)]:
                with contextlib.suppress(psutil.Error, OSError):  # ended meanwhile
                    self.processes[process.pid] = process.create_time()
                    self.groups.add(os.getpgid(process.pid))
                    self.commands[process.pid] = " ".join(process.cmdline()[2:5])
        for pid, entry in registered(folder).items():
            self.processes.setdefault(int(pid), entry["created"])
            self.groups.add(int(pid))  # each registered process leads its group
            self.commands[int(pid)] = entry["what"]  # what the harness called it
        made = f"{PREFIX}{harness_id(harness.pid)}-"
        v2, v1 = parents()
        for parent in [*v2, *v1.values()]:
            with contextlib.suppress(OSError):
                self.cgroups.update(parent.glob(f"{made}*"))

    def alive(self) -> list[str]:
        """What of the run still lives: a process seen (the same one, not a pid reused), any
        process in one of their groups, any process in a server's cgroup (zombies are dead)."""
        reap_zombie_children()  # the run's orphans were re-parented to us (a subreaper)
        left = {}
        for pid, created in self.processes.items():
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                if abs(process.create_time() - created) < 0.01 and not zombie(process):
                    left[pid] = self.commands.get(pid, "?")
        for process in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error, OSError):
                if os.getpgid(process.pid) in self.groups and not zombie(process):
                    left.setdefault(process.pid, f"in group {os.getpgid(process.pid)}")
        for folder in self.cgroups:
            with contextlib.suppress(OSError):
                for pid in (folder / "cgroup.procs").read_text().split():
                    left.setdefault(int(pid), f"in {folder.name}")
        return [f"{pid} ({what})" for pid, what in sorted(left.items())]

    def server_children(self) -> int:
        """Children of the registered fork_reap server now (the harness's grandchildren)."""
        count = 0
        for pid, what in self.commands.items():
            if what == "server fork_reap":
                with contextlib.suppress(psutil.Error):
                    count += len(psutil.Process(pid).children())
        return count


def zombie(process: psutil.Process) -> bool:
    return process.status() == psutil.STATUS_ZOMBIE


def registered(folder: Path) -> dict[str, dict]:
    try:
        return json.loads((folder / REGISTRY).read_text())
    except (OSError, ValueError):
        return {}


def cells(folder: Path) -> list[str]:
    """The keys of the cells run.json holds now (a complete file: it is renamed into place)."""
    try:
        document = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return []
    return [cell["key"] for cell in document["cells"]]


def kill_what_is_left(seen: Seen) -> None:
    """Only if the test failed: SIGKILL what the run left, by process group and pid, and reap."""
    for pgid in seen.groups - {os.getpgid(0)}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        reap_group(pgid, timeout=1.0)
    for pid, created in seen.processes.items():
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if abs(process.create_time() - created) < 0.01:
                process.kill()
    reap_zombie_children()


def test_a_child_dies_with_the_thread_that_started_it() -> None:
    """PR_SET_PDEATHSIG fires when the forking *thread* ends, not only the process: why every
    process of the harness is started from a thread that outlives it."""
    started: list[subprocess.Popen] = []

    def start() -> None:
        started.append(subprocess.Popen(["sleep", "30"], preexec_fn=child_setup()))

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    try:
        assert started[0].wait(timeout=10) == -signal.SIGKILL
    finally:
        started[0].kill()
        started[0].wait()


def test_a_warden_kills_the_group_when_its_harness_goes_and_not_after_a_stop() -> None:
    """The warden's pipe ending without `done` (its harness gone, however) kills the process
    group it watches, grandchildren included; released after a stop, it kills nothing."""
    for released in (False, True):
        group = subprocess.Popen(  # a leader and a child of its own, in a new group
            ["sh", "-c", "sleep 30 & wait"], start_new_session=True
        )
        try:
            deadline = time.monotonic() + 10
            while not psutil.Process(group.pid).children() and time.monotonic() < deadline:
                time.sleep(0.01)
            (child,) = psutil.Process(group.pid).children()
            warden = Warden.start(group.pid)
            assert warden is not None and warden.popen.stdin is not None
            if released:
                warden.release()
                assert group.poll() is None and child.is_running()
                continue
            warden.popen.stdin.close()  # as the harness's end closes when it dies
            assert warden.popen.wait(timeout=10) == 0
            assert group.wait(timeout=10) == -signal.SIGKILL
            child.wait(timeout=10)  # re-parented to us (a subreaper), or reaped by init
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group.pid, signal.SIGKILL)
            group.wait()
            reap_group(group.pid, timeout=1.0)


@pytest.mark.slow
def test_a_harness_killed_with_sigkill_leaves_nothing_and_keeps_its_cells(tmp_path: Path) -> None:
    folder = tmp_path / "run"  # its own parent: the leftover search below looks at it alone
    command = [
        *(sys.executable, "-m", "bench", "run", "--profile", "quick", "--workloads", "hello"),
        *("--servers", "asyncio,fork_reap", "--users", "2", "--duration", "4s"),
        *("--warmup", "0.3s", "--settle", "0.2s", "--no-ceiling", "--quiet", "--out", str(folder)),
    ]
    log_path = tmp_path / "harness.log"
    seen = Seen()
    with log_path.open("w") as log:
        harness = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        watched = psutil.Process(harness.pid)
        deadline = time.monotonic() + REACH_WITHIN_S
        while True:  # the first cell stored, the fork model's server serving with children
            assert harness.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, f"never reached: {log_path.read_text()[-2000:]}"
            seen.look(watched, folder)
            # counted once: a fork_reap child serves one connection and may be gone at a second look
            seen.grandchildren = seen.server_children()
            if cells(folder) and seen.grandchildren:
                break
            time.sleep(0.01)
        done = cells(folder)
        harness.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        harness.wait()
        left = seen.alive()
        while left and time.monotonic() - killed < GONE_WITHIN_S:
            time.sleep(0.05)
            left = seen.alive()
        assert not left, f"alive {time.monotonic() - killed:.1f} s after the kill: {left}"
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
        kill_what_is_left(seen)
    assert seen.grandchildren >= 1 and len(seen.groups) >= 3, (seen.commands, seen.groups)
    assert {"server fork_reap", "load generator"} <= set(seen.commands.values()), seen.commands
    run = load_run(folder)  # valid against the schema, as the report reads it
    assert done and set(done) <= {cell.key for cell in run.cells}, (done, run.cells)
    assert all(cell.status == "ok" for cell in run.cells if cell.key in done)
    assert not [path for path in seen.cgroups if path.exists()], "the wardens remove them"
    assert stop_leftovers(tmp_path) == []  # nothing left for the next run to stop
