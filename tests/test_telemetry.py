"""The telemetry sampler counts descriptors, children and zombies correctly."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from bench.launch import reap_group
from bench.telemetry import Sampler, leak_verdict, listen_overflows, sample_tree
from tests.polling import settle

# A fixture process: opens N files, forks M children that exit at once (never reaped: zombies)
# and K children that stay alive, then says so and waits for stdin to close.
FIXTURE = """
import os, sys, time
n, m, k = map(int, sys.argv[1:4])
files = [open(os.devnull) for _ in range(n)]
for _ in range(m):
    if os.fork() == 0:
        os._exit(0)
for _ in range(k):
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
print("ready", flush=True)
sys.stdin.read()
"""


def stop(process: subprocess.Popen) -> None:
    """Kill the fixture's whole group (its sleeping children too) and reap every member."""
    process.stdin.close()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    reap_group(process.pid)


def script(source: str, *args: str) -> subprocess.Popen:
    """A Python fixture process in its own group, talked to through its stdin and stdout."""
    return subprocess.Popen(
        [sys.executable, "-c", source, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_sampler_counts_descriptors_children_and_zombies() -> None:
    baseline = script(FIXTURE, "0", "0", "0")
    fixture = script(FIXTURE, "7", "5", "2")
    try:
        assert baseline.stdout.readline().strip() == "ready"
        assert fixture.stdout.readline().strip() == "ready"
        # the M children exit at once: wait until they are zombies (10 s at most)
        settle(lambda: sample_tree(fixture.pid, time.monotonic()).zombies, want=5, timeout=10.0)
        empty = sample_tree(baseline.pid, time.monotonic())
        sample = sample_tree(fixture.pid, time.monotonic())
        assert sample.parent_fds - empty.parent_fds == 7
        assert (sample.zombies, sample.children) == (5, 2)
        # three single-threaded Pythons (the parent, its two live children), each some MiB
        assert sample.threads == 3 and sample.rss_bytes >= 3 * 5 * 2**20
        assert 0.01 <= sample.cpu_s <= 5.0  # their start-up, then idle
    finally:
        for process in (baseline, fixture):
            stop(process)


def test_sampler_runs_in_the_background_and_gives_a_verdict() -> None:
    fixture = subprocess.Popen(
        [sys.executable, "-c", FIXTURE, "0", "3", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert fixture.stdout.readline().strip() == "ready"
        sampler = Sampler(fixture.pid, interval=0.02).start()
        # 15 samples in 0.3 s on a quiet machine; on a busy one each walk of the tree takes
        # longer and the sampler keeps to its duty, sampling less often: wait for 5 (10 s at most)
        settle(lambda: len(sampler.samples) >= 5, want=True, timeout=10.0)
        samples = sampler.stop()
        assert len(samples) >= 5
        assert samples[-1].zombies == 3
        series = sampler.series()
        assert len(series["zombies"]) == len(samples)
        verdict = leak_verdict(samples, load_start=samples[0].t, load_end=samples[-1].t)
        assert verdict["zombies_after"] == 3 and verdict["peak_zombies"] == 3
    finally:
        stop(fixture)


def test_leak_verdict_compares_before_and_after_the_load() -> None:
    from bench.telemetry import Sample

    def at(t: float, fds: int, zombies: int) -> Sample:
        return Sample(t, fds, fds, 0, zombies, 1, 1, 0.0)

    clean = [at(0.0, 5, 0), at(1.0, 30, 4), at(2.5, 5, 0)]
    assert leak_verdict(clean, 0.5, 2.0)["verdict"] == "clean"
    leaking = [at(0.0, 5, 0), at(1.0, 30, 4), at(2.5, 25, 4)]
    verdict = leak_verdict(leaking, 0.5, 2.0)
    assert (verdict["verdict"], verdict["fds_left"], verdict["zombies_left"]) == ("leaks", 20, 4)


def test_listen_overflow_counters_count_a_full_backlog() -> None:
    """A listener that never accepts, its backlog of 1 full: the kernel drops the next
    connections, and says so in the counters the harness reads around a cell."""
    import socket

    before = listen_overflows()
    assert set(before) == {"ListenOverflows", "ListenDrops"}
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        clients = []
        try:
            for _ in range(8):
                client = socket.socket()
                client.setblocking(False)
                client.connect_ex(listener.getsockname())
                clients.append(client)
            time.sleep(0.5)  # the SYNs beyond the backlog are dropped, then retried
        finally:
            for client in clients:
                client.close()
    after = listen_overflows()
    assert after["ListenOverflows"] - before["ListenOverflows"] >= 1
    assert after["ListenDrops"] - before["ListenDrops"] >= 1


# A child that burns CPU, ends (a zombie), and is reaped when stdin says so.
BURNER = """
import os, sys, time
pid = os.fork()
if pid == 0:
    end = time.thread_time() + 0.3
    while time.thread_time() < end:
        pass
    os._exit(0)
while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
    time.sleep(0.01)
print("zombie", flush=True)
sys.stdin.readline()
os.waitpid(pid, 0)
print("reaped", flush=True)
sys.stdin.read()
"""


def test_a_childs_cpu_counts_once_as_a_zombie_and_once_reaped() -> None:
    """The tree's CPU keeps a child's 0.3 s when the child is a zombie (its own times) and
    when its parent has reaped it (the parent's children_user/system): the same figure, so a
    window's difference neither loses nor doubles it."""
    process = script(BURNER)
    try:
        assert process.stdout.readline().strip() == "zombie"
        as_zombie = sample_tree(process.pid, time.monotonic())
        process.stdin.write("reap\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "reaped"
        reaped = sample_tree(process.pid, time.monotonic())
    finally:
        stop(process)
    assert as_zombie.zombies == 1 and reaped.zombies == 0
    assert as_zombie.cpu_s >= 0.3
    assert reaped.cpu_s == pytest.approx(as_zombie.cpu_s, abs=0.02)


def test_a_counter_between_two_moments_is_read_between_its_samples() -> None:
    from bench.telemetry import cpu_between

    series = {"t": [0.0, 1.0, 2.0], "cpu_s": [0.0, 1.0, 1.5], "core_busy_s": [10.0, 11.0, 13.0]}
    assert cpu_between(series, 0.5, 1.5) == pytest.approx(0.75)  # 0.5 then 1.25
    assert cpu_between(series, 0.5, 1.5, "core_busy_s") == pytest.approx(1.5)
    assert cpu_between(series, 0.5, 2.5) is None  # past the last sample
    assert cpu_between({"t": [0.0], "cpu_s": [0.0]}, 0.0, 0.0, "core_busy_s") is None
