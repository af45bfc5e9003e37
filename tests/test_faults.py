"""The harness under faults: a server that never starts, hangs, or answers wrongly part-way; a
load generator that crashes or hangs; SIGINT or SIGTERM at any point of a run; a results folder
that cannot hold a run; secrets in the environment. Each is recorded with its reason, the run
goes on (or stops, keeping its cells), run.json stays valid, and no process is left behind.

Time bounds here are safety checks with wide margins, never claims about speed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

import bench.load
import bench.run
import bench.store
from bench.launch import REPO_ROOT, ServerProcess, servers_command
from bench.plan import SERVERS, Cell, Settings, build_plan
from bench.run import Runner
from tests.conftest import live_descendants
from tests.faulty_servers import FAULTY
from tests.test_harness import valid_run

pytestmark = pytest.mark.slow
# One short cell: 2 s of locust (no warm-up: the fixture apps count from the first request),
# a request unanswered for 1 s fails, a server gets 2 s to listen and locust 2 s to stop.
FAST = dict(
    workloads=("hello",),
    users=(2,),
    duration_s=1.0,
    warmup_s=0.0,
    settle_s=0.2,
    ceiling=False,
    request_timeout_s=1.0,
    start_timeout_s=2.0,
    generator_grace_s=2.0,
)
MARGIN_S = 15  # added to every time bound: the machine is shared and noisy


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch) -> None:
    """The faulty server rows (tests/faulty_servers.py) in the plan's table, for one test."""
    for name, spec in FAULTY.items():
        monkeypatch.setitem(SERVERS, name, spec)


def run_in_process(
    folder: Path, keep: Callable[[Cell], bool] = lambda cell: True, **settings: object
) -> dict[str, list[dict]]:
    """Run a plan (its cells that `keep` keeps) to its end; check that run.json is valid and
    nothing is left; the cells by server, in run order."""
    plan = build_plan(Settings(**{**FAST, **settings}))
    plan.cells = [cell for cell in plan.cells if keep(cell)]
    assert Runner(plan, folder, quiet=True).run() == 0
    document = valid_run(folder)
    assert document["status"] == "complete"
    assert not live_descendants()
    cells: dict[str, list[dict]] = {}
    for cell in document["cells"]:
        cells.setdefault(cell["server"], []).append(cell)
    return cells


# the server ---------------------------------------------------------------------------------


def test_a_server_that_never_starts_fails_its_cells_within_the_start_timeout(
    tmp_path: Path, faulty: None
) -> None:
    started = time.monotonic()
    cells = run_in_process(tmp_path, servers=("exits", "never-listens", "asyncio"))
    (exits,), (never,), (fine,) = cells["exits"], cells["never-listens"], cells["asyncio"]
    assert exits["status"] == "failed"
    assert exits["reason"] == "did not start: it exited with 2 before listening"
    assert "no_such_app" in exits["server_output_tail"]
    assert never["status"] == "failed"
    assert never["reason"] == "did not start: it did not listen within 2 s"
    assert fine["status"] == "ok", fine["reason"]  # the run went on
    assert time.monotonic() - started < 2 + 2 + MARGIN_S  # not the app's minute of importing


def test_a_server_that_hangs_mid_cell_is_failed_stopped_and_the_run_goes_on(
    tmp_path: Path, faulty: None
) -> None:
    cells = run_in_process(
        tmp_path,
        lambda cell: cell.server == "hangs" or cell.users == 2,  # asyncio once, after
        servers=("hangs", "asyncio"),
        users=(2, 4),
    )
    hung, after = cells["hangs"]
    assert hung["status"] == "failed"
    assert hung["reason"].startswith("the server stopped answering during the cell: its process")
    assert "stopped (SIGSTOP" in hung["reason"] and "requests answered" in hung["reason"]
    pid = int(re.search(r"its process (\d+)", hung["reason"]).group(1))
    assert not psutil.pid_exists(pid)  # continued, stopped and reaped
    # the next cell of the same server is not run against a hung server
    assert after["status"] == "failed" and after["load"] is None
    assert after["reason"].startswith("not run: the server stopped answering in an earlier cell")
    # bounded: the load's 2 s, locust's 1 s stop, the 1 s request timeout
    assert after["started"] - hung["started"] < 2 + 1 + 1 + MARGIN_S
    assert [cell["status"] for cell in cells["asyncio"]] == ["ok"]  # the run went on


def test_a_stopped_server_is_continued_so_that_it_ends_on_its_sigterm(tmp_path: Path) -> None:
    command = servers_command("asyncio", "helloworld.plain:app")
    with ServerProcess(command, log_dir=tmp_path) as server:
        os.killpg(server.pid, signal.SIGSTOP)
        assert server.stop() == 0  # its own clean exit, not SIGKILL's -9 after the grace
        assert "stopping on SIGTERM" in server.output()


def test_wrong_answers_part_way_are_counted_by_kind_and_fail_the_cell_past_one_percent(
    tmp_path: Path, faulty: None
) -> None:
    cells = run_in_process(tmp_path, servers=("wrong-later", "rare-500"))
    (wrong,), (rare,) = cells["wrong-later"], cells["rare-500"]
    failures = wrong["load"]["failures"]
    assert failures.get("HTTP 500", 0) > 0 and failures.get("wrong body", 0) > 0
    assert wrong["load"]["requests"] > 0  # the right answers before
    assert wrong["status"] == "failed"
    assert "requests answered wrongly, more than 1%" in wrong["reason"]
    # one wrong answer in 200 is under 1 %: the cell stands, its failures counted
    assert rare["status"] == "ok", rare["reason"]
    assert set(rare["load"]["failures"]) <= {"HTTP 500"}
    if rare["load"]["requests"] >= 400:
        assert rare["load"]["failures"]["HTTP 500"] >= 1


# the load generator -------------------------------------------------------------------------


def test_a_load_generator_that_crashes_or_hangs_is_bounded_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench.load, "LOCUSTFILE", REPO_ROOT / "tests" / "locustfile_faults.py")
    faults = iter(["import-error", "kill", "stop", ""])  # one per cell, in order
    real_run_locust = bench.run.run_locust

    def run_locust_with_fault(*args: object, **kwargs: object) -> object:
        monkeypatch.setenv("BENCH_FAULT", next(faults))
        return real_run_locust(*args, **kwargs)

    monkeypatch.setattr(bench.run, "run_locust", run_locust_with_fault)
    broken, killed, stopped, fine = run_in_process(
        tmp_path, servers=("asyncio",), users=(1, 2, 3, 4), generator_grace_s=1.0
    )["asyncio"]
    assert broken["status"] == "failed" and "locust exited with 1" in broken["reason"]
    assert "a broken locustfile, on purpose" in broken["reason"]
    assert killed["status"] == "failed" and "locust exited with -9" in killed["reason"]
    assert stopped["status"] == "failed"
    assert stopped["reason"] == "locust did not stop within 3 s: killed"  # 2 s + 1 s of grace
    assert fine["started"] - stopped["started"] < 3 + MARGIN_S
    assert fine["status"] == "ok", fine["reason"]  # the same server, the run went on


# the session's own check ----------------------------------------------------------------


def test_the_session_check_sees_a_leftover_child_and_an_orphan() -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    spawned = subprocess.run(
        ["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    orphan = int(spawned.stdout)  # its parent has exited: it was re-parented to us
    try:
        left = {process.pid for process in live_descendants()}
        assert sleeper.pid in left and orphan in left
    finally:
        sleeper.kill()
        sleeper.wait()
        os.kill(orphan, signal.SIGKILL)
        os.waitpid(orphan, 0)
    left = {process.pid for process in live_descendants()}
    assert sleeper.pid not in left and orphan not in left
