"""The harness under faults: a server that never starts, hangs, or answers wrongly part-way; a
load generator that crashes or hangs; SIGINT or SIGTERM at any point of a run; a results folder
that cannot hold a run; secrets in the environment. Each is recorded with its reason, the run
goes on (or stops, keeping its cells), run.json stays valid, and no process is left behind.

Time bounds here are safety checks with wide margins, never claims about speed."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

import bench.load
import bench.run
import bench.store
from bench.__main__ import main as bench_main
from bench.catalog import SERVERS
from bench.launch import REPO_ROOT, ServerProcess, reap_group, servers_command
from bench.plan import Cell, Settings, build_plan
from bench.run import REGISTRY, Runner
from bench.store import ENV_ALLOWLIST, REDACTED, redact_secrets
from tests.conftest import live_descendants, reap_zombie_children
from tests.faulty_servers import FAULTY
from tests.test_harness import valid_run

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


@pytest.mark.slow
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


@pytest.mark.slow
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
    # the next cell gets a server of its own (it hangs in its turn, and is failed the same way)
    assert after["status"] == "failed" and after["reason"] != hung["reason"]
    assert "stopped (SIGSTOP" in after["reason"]
    # bounded: the load's 1.3 s, the generator's stop, the 1 s request timeout, a start
    assert after["started"] - hung["started"] < 1.3 + 1 + 1 + MARGIN_S
    assert [cell["status"] for cell in cells["asyncio"]] == ["ok"]  # the run went on


@pytest.mark.slow
def test_a_stopped_server_is_continued_so_that_it_ends_on_its_sigterm(tmp_path: Path) -> None:
    command = servers_command("asyncio", "helloworld.plain:app")
    with ServerProcess(command, log_dir=tmp_path) as server:
        os.killpg(server.pid, signal.SIGSTOP)
        assert server.stop() == 0  # its own clean exit, not SIGKILL's -9 after the grace
        assert "stopping on SIGTERM" in server.output()


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_load_generator_that_crashes_or_hangs_is_bounded_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's one generator fails to start, dies, hangs: each time the cell fails with the
    reason, the generator is started afresh, and the run goes on."""
    faults = tmp_path / "faults"
    # one per start of the generator (the run's first, and the first cell's) or cell
    faults.write_text("import-error\nimport-error\nkill\nstop\n\n")
    monkeypatch.setenv("BENCH_FAULTS", str(faults))
    monkeypatch.setattr(bench.load, "GENERATOR_MODULE", "tests.generator_faults")
    broken, killed, stopped, fine = run_in_process(
        tmp_path, servers=("asyncio",), users=(1, 2, 3, 4), generator_grace_s=1.0
    )["asyncio"]
    assert broken["status"] == "failed" and "the load generator exited with 1" in broken["reason"]
    assert "a broken load generator, on purpose" in broken["reason"]
    assert killed["status"] == "failed"
    assert "the load generator exited with -9" in killed["reason"]
    assert stopped["status"] == "failed"
    assert stopped["reason"] == "the load generator did not finish in time: killed"
    assert fine["started"] - stopped["started"] < 3 + MARGIN_S
    assert fine["status"] == "ok", fine["reason"]  # the same server, the run went on


class Failing(bench.load.Transport):
    """A transport that starts nothing and fails every cell with `fault`."""

    def __init__(self, fault: Exception, keeps_refused: bool = False, remote: int = 0) -> None:
        super().__init__(None, Path("unused"), None)
        self.fault, self.keeps_refused, self.remote = fault, keeps_refused, remote
        self.starts = self.closes = 0
        self.up = False

    @property
    def load_processes(self) -> int:
        return 2

    @property
    def started(self) -> bool:
        return self.up

    def start(self) -> None:
        self.starts, self.up = self.starts + 1, True

    def close(self) -> None:
        self.closes, self.up = self.closes + 1, False

    def send(self, index: int, command: dict) -> None:
        pass

    def collect(self, *args: object, **kwargs: object) -> list[dict]:
        raise self.fault


def failing_run(transport: Failing) -> tuple[bench.load.Generator, bench.load.LoadResult]:
    generator = bench.load.Generator()
    generator.transport = transport
    return generator, generator.run(bench.load.CellLoad("http://127.0.0.1:1", "/", 2, 0.0, 0.1))


def test_the_generator_picks_its_transport() -> None:
    pipes = bench.load.Generator(3, distribution=bench.load.Distribution()).transport
    assert isinstance(pipes, bench.load.Pipes) and (pipes.count, pipes.load_processes) == (3, 3)
    master = bench.load.Generator(3, distribution=bench.load.Distribution(2, 1)).transport
    assert isinstance(master, bench.load.Master) and master.count == 1
    assert (master.load_processes, master.remote, master.keeps_refused) == (3, 1, True)


def test_a_refused_cell_keeps_a_master_and_a_fault_loses_its_remote_workers() -> None:
    """Whatever the transport, the generator's policy: a cell the generator refused fails with
    its reason (a master stays, processes on pipes start afresh); any other fault starts it
    afresh, and workers on other machines, which do not join a new master, are lost for good."""
    refused = bench.load.CellFailed("the load generator failed: no such client")
    kept = Failing(refused, keeps_refused=True, remote=1)
    generator, result = failing_run(kept)
    assert result.error == str(refused) and result.processes == 2
    assert (kept.starts, kept.closes, generator.lost) == (1, 0, "")
    afresh = Failing(refused)
    _, result = failing_run(afresh)
    assert result.error == str(refused) and (afresh.starts, afresh.closes) == (1, 1)
    hung = bench.load.GeneratorError("the load generator did not finish in time: killed")
    lost = Failing(hung, keeps_refused=True, remote=1)
    generator, result = failing_run(lost)
    assert result.error == str(hung) and (lost.starts, lost.closes) == (1, 1)
    assert generator.lost.startswith(f"{hung}; the master had to be started again")
    with pytest.raises(bench.load.GeneratorError, match="start them again and run again"):
        generator.start()
    assert lost.starts == 1
    broken = Failing(KeyError("reports"))
    generator, result = failing_run(broken)
    assert result.error == "the load generator failed: KeyError: 'reports'"
    assert broken.closes == 1 and generator.lost == ""


# SIGINT and SIGTERM -------------------------------------------------------------------------


def registered(folder: Path) -> dict[str, dict]:
    """The process groups the run has registered now ({pid: {what, created}})."""
    try:
        return json.loads((folder / REGISTRY).read_text())
    except (OSError, ValueError):
        return {}


def whats(seen: dict[str, dict]) -> set[str]:
    return {entry["what"] for entry in seen.values()}


def seen_at(seen: dict[str, dict], what: str) -> float:
    """When the process registered as `what` was created (time.time())."""
    return min(entry["created"] for entry in seen.values() if entry["what"] == what)


def cells_saved(folder: Path) -> int:
    try:
        return len(json.loads((folder / "run.json").read_text())["cells"])
    except (OSError, ValueError):
        return 0


def command_line(process: psutil.Process) -> list[str]:
    """Its command line, or [] if it has just ended."""
    with contextlib.suppress(psutil.Error):
        return process.cmdline()
    return []


def still_alive(seen: dict[str, dict]) -> list[int]:
    """The registered process-group leaders still running (the same processes, not a pid
    reused; zombies are dead)."""
    reap_zombie_children()
    alive = []
    for pid, entry in seen.items():
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(int(pid))
            same = abs(process.create_time() - entry["created"]) < 0.01
            if same and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(int(pid))
    return alive


Reached = Callable[[Path, dict[str, dict]], bool]
# point: (options, signal, when the harness is there, whether to draw the report); the run's
# load generator is started once, before the ceiling and the cells
POINTS: dict[str, tuple[list[str], signal.Signals, Reached, bool]] = {
    "the ceiling": (
        ["--servers", "asyncio", "--duration", "4s"],
        signal.SIGTERM,
        lambda folder, seen: {"ceiling server", "load generator"} <= whats(seen),
        True,
    ),
    "a server's start": (
        ["--servers", "never-listens", "--start-timeout", "30s", "--no-ceiling"],
        signal.SIGINT,
        lambda folder, seen: any(folder.glob("server-*.log")),
        False,
    ),
    "the verification": (
        ["--servers", "slow-verify", "--no-ceiling"],
        signal.SIGTERM,
        lambda folder, seen: "server slow-verify" in whats(seen),
        False,
    ),
    "a cell": (  # its window: the telemetry has begun, a second after the server was seen
        ["--servers", "asyncio,threaded", "--duration", "5s", "--no-ceiling"],
        signal.SIGINT,
        lambda folder, seen: (
            {"server asyncio", "load generator"} <= whats(seen)
            and time.time() - seen_at(seen, "server asyncio") > 1.0
        ),
        False,
    ),
    "the end of the first cell": (
        ["--servers", "asyncio,threaded", "--no-ceiling"],
        signal.SIGTERM,
        lambda folder, seen: cells_saved(folder) >= 1,
        True,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_a_signal_at_any_point_keeps_the_cells_done_and_leaves_nothing(
    tmp_path: Path, point: str
) -> None:
    options, signum, reached, draw = POINTS[point]
    folder = tmp_path / "run"  # its own parent: the leftover search looks at nothing else
    command = [
        *(sys.executable, "-m", "tests.faulty_servers", "run", "--workloads", "hello"),
        *("--users", "2", "--duration", "1s", "--warmup", "0.3s", "--settle", "0.2s"),
        *("--quiet", "--out", str(folder)),
        *options,
    ]
    log_path = tmp_path / "harness.log"
    seen: dict[str, dict] = {}
    with log_path.open("w") as log:
        harness = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and harness.poll() is None:
            seen.update(registered(folder))
            if reached(folder, seen):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the harness never reached {point}: {log_path.read_text()[-2000:]}")
        harness.send_signal(signum)
        assert harness.wait(timeout=60) == 130, log_path.read_text()[-2000:]
        seen.update(registered(folder))
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
        for pid in still_alive(seen):  # only if the test failed: leave nothing either way
            os.killpg(pid, signal.SIGKILL)
            reap_group(pid)
    document = valid_run(folder)
    assert document["status"] == "interrupted"
    assert all(cell["status"] == "ok" for cell in document["cells"]), document["cells"]
    if point == "the end of the first cell":
        assert document["cells"], "the completed cell was kept"
    assert not live_descendants(), log_path.read_text()
    assert not still_alive(seen)
    assert "server" in " ".join(whats(seen)) or point == "a server's start"
    leftovers = [*folder.glob("server-*.log"), *folder.glob("*.partial"), folder / REGISTRY]
    assert not [path for path in leftovers if path.exists()]
    if draw:
        report = subprocess.run(
            [sys.executable, "-m", "bench", "report", str(folder)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert report.returncode == 0, report.stderr
        assert "interrupted" in (folder / "report.html").read_text()


@pytest.mark.slow
def test_a_ctrl_c_while_a_server_starts_stops_it(tmp_path: Path) -> None:
    """A `with ServerProcess(...)` (or a fixture) whose start is interrupted has nothing to
    stop: start() stops it before the KeyboardInterrupt goes on."""
    command = servers_command("asyncio", "tests.apps_slow_import:app")  # never listens
    server = ServerProcess(command, log_dir=tmp_path)
    ctrl_c = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    ctrl_c.start()
    try:
        with pytest.raises(KeyboardInterrupt), server:
            pytest.fail("it cannot have started")
    finally:
        ctrl_c.cancel()
    assert server.popen is not None and server.popen.poll() is not None
    assert not live_descendants()


@pytest.mark.slow
def test_a_signal_during_the_micro_benchmarks_lets_pytest_stop_its_servers(tmp_path: Path) -> None:
    """The micro step (after the cells of the default profile) runs pytest, which starts servers
    of its own: the harness passes the Ctrl-C on and waits for them to be stopped."""
    # as a user runs it: not as a pytest-xdist worker's, whose variables would tell
    # pytest-benchmark to measure nothing, and the micro-benchmarks to end at once
    alone = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    harness = subprocess.Popen(
        [sys.executable, "-m", "bench", "micro", "--out", str(tmp_path / "micro")],
        cwd=REPO_ROOT,
        env=alone,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and harness.poll() is None:
            if any("servers" in command_line(process)[:3] for process in live_descendants()):
                break  # pytest has started a server
            time.sleep(0.05)
        else:
            pytest.fail("the micro-benchmarks never started a server")
        harness.send_signal(signal.SIGINT)
        _, errors = harness.communicate(timeout=60)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.communicate()
    assert harness.returncode == 130 and "Traceback" not in errors, errors
    assert not live_descendants()


def test_saving_is_finished_before_an_interrupt_takes_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C between writing run.json.partial and renaming it waits for the rename."""
    real_replace = Path.replace

    def replace_after_ctrl_c(self: Path, target: Path) -> Path:
        os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the write
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", replace_after_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        bench.store.write_json(tmp_path / "run.json", {"cells": [1, 2]})
    monkeypatch.undo()
    assert json.loads((tmp_path / "run.json").read_text()) == {"cells": [1, 2]}
    assert not list(tmp_path.glob("*.partial"))


# the results folder -------------------------------------------------------------------------


def refuse(out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run `python -m bench run` in-process; it must stop with one error line, measuring
    nothing."""
    with pytest.raises(SystemExit) as stopped:
        bench_main(["run", "--servers", "asyncio", "--no-ceiling", "--out", str(out)])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("python -m bench: error:"), error
    assert not (out / "run.json").exists()
    return error[0]


def test_a_results_disk_without_room_is_refused_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_usage = bench.store.shutil.disk_usage
    monkeypatch.setattr(
        bench.store.shutil,
        "disk_usage",
        lambda path: real_usage(path)._replace(free=20 * 2**20),
    )
    assert "only 20 MiB free for results" in refuse(tmp_path / "run", capsys)


def test_a_read_only_results_folder_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("root writes into read-only folders: the path-in-a-file test covers it")
        assert "cannot write results to" in refuse(locked / "run", capsys)
    finally:
        locked.chmod(0o700)


# the session's own check, and secrets ---------------------------------------------------------


@pytest.mark.slow
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


def test_redaction_covers_the_json_escaped_form_of_a_secret() -> None:
    environ = {"API_TOKEN": 'to"ken\\value', "HOME": "/home/someone", "SHORT_KEY": "abc"}
    text = json.dumps({"tail": 'token: to"ken\\value', "home": "/home/someone", "k": "abc"})
    assert json.loads(redact_secrets(text, environ)) == {
        "tail": f"token: {REDACTED}",
        "home": "/home/someone",  # not a secret's name
        "k": "abc",  # too short to replace safely
    }


@pytest.mark.slow
def test_no_secret_from_the_environment_reaches_the_results(tmp_path: Path) -> None:
    secrets = {
        "DJANGO_SECRET_KEY": "sekrit-123-django",
        "AWS_SECRET_ACCESS_KEY": "sekrit-456-aws",
        "GITHUB_TOKEN": "sekrit-789-token",
    }
    folder = tmp_path / "run"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "tests.faulty_servers", "run"),
            *("--servers", "tells-secrets,asyncio", "--workloads", "django", "--users", "2"),
            *("--duration", "1s", "--warmup", "0.2s", "--settle", "0.2s", "--no-ceiling"),
            *("--quiet", "--no-micro", "--out", str(folder)),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, **secrets, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    document = valid_run(folder)
    told, fine = document["cells"]
    assert "DJANGO_SECRET_KEY=[redacted]" in told["server_output_tail"]  # printed, not kept
    assert fine["status"] == "ok", fine["reason"]
    environment = document["metadata"]["environment"]
    assert environment["PYTHONHASHSEED"] == "0" and set(environment) <= set(ENV_ALLOWLIST)
    assert (folder / "report.html").exists()
    for path in folder.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not [name for name, value in secrets.items() if value.encode() in content], path
    assert not live_descendants()
