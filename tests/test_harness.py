"""The harness end to end: a tiny plan runs and stores a valid run.json; failures and crashes
are recorded and leave nothing running; the leaking servers stay bounded. More faults (hangs,
the load generator, signals at every point, secrets): tests/test_faults.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from hdrh.histogram import HdrHistogram

from bench.catalog import SERVERS, WORKLOADS, ServerSpec
from bench.plan import MAX_LEAKED_PER_CELL, PROFILES, PlanError, Settings, build_plan
from bench.run import Runner
from bench.store import SCHEMA_PATH
from tests.conftest import live_descendants

SCHEMA = json.loads(SCHEMA_PATH.read_text())
TINY = dict(
    workloads=("hello",), users=(2,), duration_s=1.0, warmup_s=0.3, settle_s=0.3, ceiling=False
)


def valid_run(folder: Path) -> dict:
    document = json.loads((folder / "run.json").read_text())
    jsonschema.validate(document, SCHEMA)
    return document


@pytest.mark.slow
def test_tiny_plan_end_to_end(tmp_path: Path) -> None:
    plan = build_plan(Settings(servers=("asyncio", "fork_reap"), **TINY))
    assert Runner(plan, tmp_path, quiet=True).run() == 0
    document = valid_run(tmp_path)
    assert document["status"] == "complete" and len(document["cells"]) == 2
    for cell in document["cells"]:
        assert cell["status"] == "ok", cell["reason"]
        load = cell["load"]
        assert load["window_s"] == pytest.approx(1.0, abs=0.01)  # TINY's window
        assert load["throughput"] == pytest.approx(load["requests"] / load["window_s"])
        assert load["requests"] >= 100  # hello on either model, 2 users, 1 s
        histogram = HdrHistogram.decode(cell["load"]["histogram"].encode())
        assert histogram.get_total_count() == cell["load"]["requests"]
        assert 0 < cell["load"]["latency_us"]["p50"] <= cell["load"]["latency_us"]["p99"]
        assert len(cell["telemetry"]["series"]["t"]) >= 5
        assert cell["leak"]["verdict"] == "clean"
    assert document["metadata"]["commit"] and document["metadata"]["python"]
    assert document["metadata"]["settings"]["profile"] == "custom"
    assert not live_descendants()


@pytest.fixture
def extra_servers():
    """Server rows that only the tests use, removed afterwards."""
    added = {
        "wrong": ServerSpec(
            "wrong", "answers the wrong body", "ours", "asyncio", app="tests.apps:wrong_hello"
        ),
        "crashing": ServerSpec(
            "crashing",
            "dies after 200 requests",
            "ours",
            "asyncio",
            app="tests.apps:crash_after_200",
        ),
    }
    SERVERS.update(added)
    yield added
    for name in added:
        SERVERS.pop(name)


@pytest.mark.slow
def test_failed_verification_and_a_crash_are_recorded_and_the_run_goes_on(
    tmp_path: Path, extra_servers
) -> None:
    plan = build_plan(Settings(servers=("wrong", "crashing", "asyncio"), **TINY))
    assert Runner(plan, tmp_path, quiet=True).run() == 0
    cells = {cell["server"]: cell for cell in valid_run(tmp_path)["cells"]}
    assert cells["wrong"]["status"] == "failed"
    assert "verification failed" in cells["wrong"]["reason"] and cells["wrong"]["load"] is None
    assert cells["crashing"]["status"] == "failed"
    assert "exited with 3" in cells["crashing"]["reason"]
    assert cells["asyncio"]["status"] == "ok"  # the run went on after both
    assert not live_descendants()


def test_a_plan_cannot_ask_too_much_of_the_leaking_servers() -> None:
    plan = build_plan(
        Settings(
            servers=("fork", "fork_leak"), workloads=("hello",), users=(16,), request_cap=10_000_000
        )
    )
    assert plan.settings.request_cap <= MAX_LEAKED_PER_CELL
    assert any("lowered" in note for note in plan.notes)
    command = SERVERS["fork"].command(WORKLOADS["hello"], None, plan.settings.request_cap)
    assert "--max-requests" in command and "--max-children" in command


@pytest.mark.parametrize(
    "settings",
    [
        Settings(servers=("nope",), workloads=("hello",), users=(1,)),
        Settings(servers=("asyncio",), workloads=("nope",), users=(1,)),
        Settings(servers=("asyncio",), workloads=("hello",), users=(0,)),
        Settings(servers=("asyncio",), workloads=("hello",), users=(1,), repeat=99),
    ],
)
def test_bad_plans_are_refused(settings: Settings) -> None:
    with pytest.raises(PlanError):
        build_plan(settings)


def test_every_profile_builds_and_basic_is_skipped_where_it_cannot_serve() -> None:
    for name, settings in PROFILES.items():
        plan = build_plan(settings)
        assert plan.cells, name
        assert all(SERVERS[c.server].supports(c.workload) for c in plan.cells)
    default = build_plan(PROFILES["default"])
    assert {
        "server": "basic",
        "workload": "io",
        "reason": "basic serves only hello",
    } in default.skipped
    ranked = {cell.server for cell in default.cells if cell.repetition == 2}
    assert {"uvicorn", "gunicorn-sync", "asyncio-asgi", "prefork"} <= ranked  # beside ours


@pytest.mark.slow
def test_bench_cli_refuses_an_unwritable_results_folder(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    result = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--profile", "quick", "--out", str(blocked / "run")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "cannot write results" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_next_run_finds_and_stops_what_a_crashed_run_left(tmp_path: Path) -> None:
    from bench.launch import ServerProcess, reap_group, servers_command
    from bench.run import Registry, stop_leftovers

    crashed = tmp_path / "run-crashed"
    crashed.mkdir()
    orphan = ServerProcess(servers_command("fork_reap", "helloworld.plain:app")).start()
    try:
        Registry(crashed).add(orphan.pid, "server fork_reap")  # as the crashed run had written
        found = stop_leftovers(tmp_path)
        assert found == [f"server fork_reap (pid {orphan.pid}) left by run-crashed"]
        orphan.popen.wait(timeout=10)
        assert not (crashed / ".processes.json").exists()
        assert stop_leftovers(tmp_path) == []  # nothing the second time
    finally:
        orphan.stop()
        reap_group(orphan.pid)


@pytest.mark.slow
def test_a_server_that_stalls_does_not_look_fast(tmp_path: Path) -> None:
    """Throughput divides by the whole measured window, not by the span of the answers."""
    import resource

    from bench.launch import ServerProcess, servers_command
    from bench.load import run_locust

    command = servers_command("fork_leak", "helloworld.plain:app")
    with ServerProcess(command, rlimits={resource.RLIMIT_NOFILE: (80, 80)}) as server:
        load = run_locust(
            server.url,
            "/hello/",
            1,
            warmup_s=0.0,
            duration_s=2.0,
            close=False,
            max_requests=None,
            out_dir=tmp_path,
            cpus=None,
        )
    assert load.window_s == pytest.approx(2.0, abs=0.2)
    assert 0 < load.requests < 80  # it answered until EMFILE, then nothing
    assert load.throughput == pytest.approx(load.requests / load.window_s)
    assert load.throughput < 80 / 1.8


def test_repetitions_run_in_rounds_shuffled_anew_and_reproducibly() -> None:
    """Every round the same cells, each once, in an order shuffled anew (seeded)."""
    settings = Settings(
        servers=("asyncio", "threaded", "iterative", "prefork"),
        workloads=("hello", "io"),
        users=(1, 16),
        repeat=3,
        open_rate=100,
        open_workloads=("hello",),
    )
    plan = build_plan(settings)
    assert [c.repetition for c in plan.cells] == sorted(c.repetition for c in plan.cells)
    rounds = [[c for c in plan.cells if c.repetition == r] for r in (1, 2, 3)]
    same = {(c.server, c.workload, c.users, c.rate) for c in rounds[0]}
    assert len(same) == len(rounds[0]) == 4 * (2 * 2 + 1)  # servers x (levels + open loop)
    for cells in rounds[1:]:
        assert {(c.server, c.workload, c.users, c.rate) for c in cells} == same
    orders = [[c.key.rsplit("/r", 1)[0] for c in cells] for cells in rounds]
    assert len({tuple(order) for order in orders}) == 3  # not the same order any two rounds
    assert build_plan(settings).cells == plan.cells  # the seed makes it repeatable
    from dataclasses import replace

    assert build_plan(replace(settings, seed=2)).cells != plan.cells
    assert "@100rps" in next(c for c in plan.cells if c.rate).key


def test_the_cells_measured_once_come_before_rounds_that_are_all_alike() -> None:
    """The default's shape: lessons and single measurements first, then identical rounds of
    the ranked cells; the leaking servers are never repeated."""
    plan = build_plan(PROFILES["default"])
    repeats = plan.settings.repeat
    assert repeats >= 5
    first_repeated = next(i for i, c in enumerate(plan.cells) if c.repetition == 2) - len(
        [c for c in plan.cells if c.repetition == 2]
    )
    once, rounds = plan.cells[:first_repeated], plan.cells[first_repeated:]
    ranked = {(c.server, c.workload, c.users) for c in rounds}
    assert {f"{w}@{u}" for _, w, u in ranked} == {"hello@16", "io@16"}
    assert not any(SERVERS[s].leaking for s, _, _ in ranked)
    assert {c.server for c in once if SERVERS[c.server].leaking} == {
        "fork",
        "fork_leak",
        "fork_wait",
    }
    assert not any((c.server, c.workload, c.users) in ranked and not c.rate for c in once)
    for r in range(1, repeats + 1):
        assert {(c.server, c.workload, c.users) for c in rounds if c.repetition == r} == ranked
