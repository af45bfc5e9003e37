"""A server's accounting against known answers: the CPU its promptly reaped children burn is
charged to it; a daemon that left its process group is stopped with it; pages shared by a
tree of processes are counted once; an idle server is judged for leaks, a busy one is not. Each
on the cgroup path (CI runs as root) and on the /proc fallback, forced by WEBMODELS_ACCOUNTING.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bench.launch import ServerProcess, launched, servers_command
from bench.telemetry import accounting as accounts
from bench.telemetry import leak_verdict, port_activity, sample_tree, wait_idle
from bench.telemetry.accounting import FORCE, TICK_US, Group
from tests.conftest import PLAIN

pytestmark = pytest.mark.slow  # every test starts servers
BURNER = str(Path(__file__).with_name("forking_burner.py"))

# A parent that fills 100 MiB (every page written), then forks 20 children that only sleep:
# every page is shared by 21 processes.
SHARED = """
import os, sys, time
buffer = bytearray(100 * 2**20)
for index in range(0, len(buffer), 4096):
    buffer[index] = 1
for _ in range(20):
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
print("serving shared on http://127.0.0.1:1 ", flush=True)
time.sleep(60)
"""

REQUESTS, BURN = 10, 0.05


@pytest.fixture(params=["cgroup", "proc"])
def accounting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test on both paths; the cgroup path only where this machine lets us make one."""
    if request.param == "proc":
        monkeypatch.setenv(FORCE, "proc")
    else:
        made = Group.create()
        if isinstance(made, str):
            pytest.skip(f"no cgroup here: {made}")
        made.remove()
    yield request.param


def ask(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    return answer


def charged(server: ServerProcess, requests: int) -> float:
    """CPU seconds charged to the server while it serves `requests` one after another."""
    before = server.read().cpu_s
    for _ in range(requests):
        assert ask(server.port).endswith(b"Hello, world!")
    deadline = time.monotonic() + 10
    while f"reaped {requests}" not in server.output() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # the reaping parent's own step after its line
    return server.read().cpu_s - before


def test_the_cpu_of_reaped_children_is_charged(accounting: str) -> None:
    """Each child burns BURN s of CPU and is reaped before the next request: the server is
    charged at least that a request, and at most that plus what a child that burns nothing
    costs (a fork, an answer and an exit), measured beside it."""
    with launched([sys.executable, BURNER, "0", "0"]) as bare:
        overhead = charged(bare, REQUESTS)
        method = bare.accounting
    with launched([sys.executable, BURNER, "0", str(BURN)]) as burning:
        cost = charged(burning, REQUESTS)
    error = 2 * method.cpu_resolution_us / 1e6
    if accounting == "cgroup":
        assert method.cpu_resolution_us <= 1.0 and "cgroup" in method.cpu and method.split
    else:
        assert method.cpu_resolution_us == TICK_US and method.cpu.startswith("/proc")
        assert not method.split  # /proc's user/system of a short child is not to be trusted
        assert method.why_not_cgroup == f"{FORCE}=proc asked for /proc"
    assert REQUESTS * BURN - error <= cost <= REQUESTS * BURN + 2 * overhead + 0.02 + error


@pytest.mark.parametrize("hierarchy", ["v2", "v1"])
def test_a_daemon_that_left_the_group_is_stopped(
    hierarchy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server whose child starts a new session (so no signal to its process group reaches
    it) is stopped with its cgroup (cgroup.kill on v2; on v1, every pid of the frozen group),
    reaped, and the group is empty and gone afterwards."""
    if hierarchy == "v1":  # as on a machine without cgroup v2
        _unified, legacy = accounts.mounts()
        if not {"cpuacct", "freezer"} <= legacy.keys():
            pytest.skip("no cgroup v1 cpuacct and freezer here")
        monkeypatch.setattr(accounts, "mounts", lambda: (None, legacy))
    made = Group.create()
    if isinstance(made, str):
        pytest.skip(f"no cgroup here: {made}")
    made.remove()
    with launched([sys.executable, BURNER, "0", "0", "daemon"]) as server:
        deadline = time.monotonic() + 10
        while "daemon " not in server.output() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "daemon " in server.output(), server.output()
        daemon = int(server.output().split("daemon ")[1].split()[0])
        assert os.getpgid(daemon) != os.getpgid(server.pid)
        group = server.group
        assert group is not None and daemon in group.pids()
        assert (group.killer is None) is (hierarchy == "v1")
    assert not psutil.pid_exists(daemon)  # killed and reaped: not even a zombie
    assert not server.left_running
    assert not any(path.exists() for path in group.dirs)


def test_shared_pages_are_counted_once(accounting: str) -> None:
    """21 processes sharing 100 MiB: about 100 MiB counted once, where summed RSS says
    twenty times more."""
    with launched([sys.executable, "-c", SHARED], port=None, timeout=30) as server:
        deadline = time.monotonic() + 10
        while len(server.tree()) < 21 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        group = server.group
        sample = sample_tree(server.pid, time.monotonic(), counter=group.read if group else None)
        assert sample is not None
        counted = group.peak_bytes() if group else sample.memory_bytes
        if accounting == "cgroup" and group is not None and group.memory is not None:
            assert "cgroup" in server.accounting.memory
        else:
            assert server.accounting.memory.startswith("PSS")
        assert 100 * 2**20 <= counted <= 300 * 2**20, counted / 2**20
        assert sample.rss_bytes >= 15 * 100 * 2**20


def test_a_server_still_serving_is_busy_not_leaking() -> None:
    """sleep with clients queued behind its sleeps: judged at once it holds a connection (the
    old false leak); waited for, it comes to rest with nothing left; not waited for long
    enough, it reads 'still busy', never 'leaks'."""
    command = servers_command("sleep", PLAIN, "--sleep", "0.05")
    with launched(command) as server:
        before = sample_tree(server.pid, 0.0)
        clients = []
        for _ in range(12):  # queued behind each other's 50 ms sleeps
            client = socket.create_connection((server.host, server.port))
            client.sendall(b"GET /hello/ HTTP/1.1\r\nHost: x\r\n\r\n")
            clients.append(client)
        for client in clients:
            client.close()
        busy = wait_idle(server.pid, server.port, 0, least=0.0, most=0.1, still_for=5.0)
        assert busy.state == "busy" and busy.queued + busy.open_connections > 0
        now = sample_tree(server.pid, 0.0)
        verdict = leak_verdict([before, now], before.t, now.t, busy)
        assert verdict["verdict"] == "still busy"
        rest = wait_idle(server.pid, server.port, 0, least=0.0, most=5.0)
        assert rest.state == "idle"
        after = sample_tree(server.pid, 0.0)
        assert leak_verdict([before, after], before.t, after.t, rest)["verdict"] == "clean"
        assert port_activity(server.port)[:2] == (0, 0)


def test_fork_leak_still_leaks_once_at_rest() -> None:
    """fork_leak's parent keeps each connection: at rest it holds them (CLOSE_WAIT), a leak."""
    with launched(servers_command("fork_leak", PLAIN)) as server:
        before = sample_tree(server.pid, 0.0)
        for _ in range(5):
            with socket.create_connection((server.host, server.port), timeout=5) as client:
                client.sendall(b"GET /hello/ HTTP/1.1\r\nHost: x\r\n\r\n")
                client.recv(4096)
        rest = wait_idle(server.pid, server.port, 0, least=0.2, most=5.0)
        assert rest.state in ("idle", "stalled") and rest.held == 5
        after = sample_tree(server.pid, 0.0)
        verdict = leak_verdict([before, after], before.t, after.t, rest)
        assert verdict["verdict"] == "leaks" and verdict["fds_left"] == 5


def test_an_added_server_is_charged_the_cpu_its_reaped_children_burn(tmp_path: Path) -> None:
    """Through the whole harness: a server of the user's (--add-server) whose children each
    burn 5 ms of CPU and are reaped at once is charged at least 5 ms a request, its figure
    stated with the counter's resolution, and leaves no leak behind."""
    from tests.test_reach import QUICK, bench

    out = tmp_path / "run"
    done = bench(
        *QUICK,
        "--add-server",
        f"burner={{python}} {BURNER} {{port}} 0.005",
        "--servers",
        "burner",
        "--workloads",
        "hello",
        "--users",
        "4",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (cell,) = json.loads((out / "run.json").read_text())["cells"]
    assert cell["status"] == "ok", cell["reason"]
    demand = cell["service_demand"]
    assert demand["us_per_request"] - demand["error_us_per_request"] >= 5_000
    assert cell["accounting"]["cpu_resolution_us"] <= 1.0 or os.geteuid() != 0
    assert cell["leak"]["verdict"] == "clean" and cell["leak"]["rest"]["state"] == "idle"
    assert demand["faults_per_request"] > 10  # each child's copies on write


# alone: any harness that starts meanwhile (another worker's) sweeps this group, a dead
# harness's by its name, before the test can
@pytest.mark.alone
def test_a_group_left_by_a_harness_killed_with_sigkill_is_emptied_and_removed() -> None:
    """A group whose harness is gone (here a pid that cannot exist) is found by the next run:
    what runs in it is killed, and the group removed."""
    made = Group.create()
    if isinstance(made, str):
        pytest.skip(f"no cgroup here: {made}")
    left = Group("webmodels-999999999.1-1")
    for path in made.dirs:
        path.rmdir()
        left.dirs.append(path.with_name(left.name))
        left.dirs[-1].mkdir()
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=left.join
    )
    try:
        assert orphan.pid in left.pids()
        found = accounts.sweep_leftovers()
        assert any(str(left.dirs[0]) in line for line in found), found
        assert orphan.wait(timeout=5) is not None
        assert not any(path.exists() for path in left.dirs)
    finally:
        orphan.kill()
        orphan.wait()
        left.kill(timeout=1)
        left.remove()


@pytest.mark.parametrize(("model", "one_at_a_time"), [("iterative", True), ("threaded", False)])
def test_a_server_counts_the_requests_it_has_in_progress(model: str, one_at_a_time: bool) -> None:
    """Eight clients at once on a view that waits 50 ms: iterative has one in progress at a
    time by its own count, threaded several; the harness reads the count from what it said."""
    from bench.run import server_reports

    with launched(servers_command(model, PLAIN)) as server:
        clients = [socket.create_connection((server.host, server.port)) for _ in range(8)]
        for client in clients:
            client.sendall(b"GET /sleep/?ms=50 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for client in clients:
            while client.recv(4096):
                pass
            client.close()
    most = server_reports(server.said).most_in_progress
    assert most is not None
    assert (most == 1) is one_at_a_time and most <= 8
