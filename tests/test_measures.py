"""What a cell measures, against known answers: its window is on the telemetry's clock; a cell
whose load generator ran out of CPU is flagged from the generator's own CPU, whatever the
connection mode; the server's CPU per request (service demand) is what it really burns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.catalog import SERVERS, WORKLOADS, ServerSpec, Workload
from bench.plan import Settings, build_plan
from bench.run import Runner
from tests.conftest import live_descendants
from tests.test_harness import valid_run

# alone: each figure is checked against a known answer on a quiet machine (locust at 85 % of
# its CPU, or idle; 5 ms of CPU a request over 2 s; telemetry samples within 20 ms)
pytestmark = [pytest.mark.slow, pytest.mark.alone]


def run(folder: Path, **settings: object) -> list[dict]:
    plan = build_plan(
        Settings(
            **{
                "workloads": ("hello",),
                "users": (16,),
                "duration_s": 1.5,
                "warmup_s": 0.3,
                "settle_s": 0.3,
                "ceiling": False,
                "wrk_bound_cells": False,
                **settings,
            }
        )
    )
    assert Runner(plan, folder, quiet=True).run() == 0
    cells = valid_run(folder)["cells"]
    assert not live_descendants()
    for cell in cells:
        assert cell["status"] == "ok", cell["reason"]
    return cells


@pytest.fixture
def extra() -> Iterator[None]:
    """A server that logs its requests' moments, and a workload of 5 ms of CPU per request."""
    SERVERS["clock"] = ServerSpec(
        "clock", "logs each request's moment", "ours", "asyncio", app="tests.apps:clock_hello"
    )
    WORKLOADS["cpu5"] = Workload(
        "cpu5",
        "/cpu/?ms=5",
        "helloworld.plain:app",
        "helloworld.plain_asgi:app",
        b"burned 5 ms",
        "",
    )
    yield
    SERVERS.pop("clock")
    WORKLOADS.pop("cpu5")


def test_the_window_is_on_the_telemetry_clock(tmp_path: Path, extra: None, monkeypatch) -> None:
    """The server logs when each request arrives, on time.monotonic(): the first comes as the
    users start, the last just after the window ends, both where the cell says."""
    clock = tmp_path / "clock.log"
    monkeypatch.setenv("BENCH_TEST_CLOCK", str(clock))
    (cell,) = run(tmp_path / "run", servers=("clock",), users=(4,), duration_s=2.0)
    window = cell["window"]
    origin = window["origin"]
    moments = [float(line) for line in clock.read_text().split()]
    loaded = [m - origin for m in moments if origin < m < origin + window["load_end"]]
    assert window["end"] - window["start"] == pytest.approx(2.0, abs=0.01)
    assert window["start"] - window["load_start"] == pytest.approx(0.3, abs=0.01)
    assert loaded[0] == pytest.approx(window["load_start"], abs=0.05)
    assert window["end"] <= loaded[-1] <= window["end"] + 0.1
    arrived = sum(window["start"] <= m <= window["end"] for m in loaded)
    assert arrived == pytest.approx(cell["load"]["requests"], rel=0.02)
    # the telemetry's samples are on the same clock: one taken as the window opened and closed
    times = cell["telemetry"]["series"]["t"]
    for moment in (window["start"], window["end"]):
        assert min(abs(t - moment) for t in times) < 0.02


@pytest.mark.parametrize("mode", ["keepalive", "close"])
def test_a_server_that_closes_every_connection_and_saturates_locust_is_flagged(
    tmp_path: Path, mode: str
) -> None:
    """iterative closes every connection; locust's FastHttpUser, opening one per request, runs out
    of its CPU long before the server does (the old flag, 80 % of a keep-alive ceiling, never saw
    it). sleep serves 50 requests a second: locust idles, and nothing is flagged."""
    cells = run(tmp_path, servers=("iterative", "sleep"), modes=(mode,), client="fasthttp")
    by_server = {cell["server"]: cell for cell in cells}
    iterative, sleep = by_server["iterative"], by_server["sleep"]
    assert iterative["generator_bound"] and iterative["load"]["generator_cpu_share"] >= 0.85
    assert iterative["generator_bound_reason"].startswith("locust used")
    assert not sleep["generator_bound"] and sleep["load"]["generator_cpu_share"] < 0.5
    assert sleep["generator_bound_reason"] == ""


def test_service_demand_is_the_cpu_the_server_burns_per_request(
    tmp_path: Path, extra: None
) -> None:
    """Each request burns 5 ms of CPU (the thread's own clock) in one event loop: the server's
    CPU over the window per answer is those 5 ms and its own overhead (0.1 to 0.3 ms per
    request here, the more the lighter the load), within 15 %."""
    (cell,) = run(tmp_path, servers=("asyncio",), workloads=("cpu5",), users=(4,), duration_s=2.0)
    demand = cell["service_demand"]
    assert demand["requests"] == cell["load"]["requests"] > 200
    assert demand["us_per_request"] == pytest.approx(5000, rel=0.15)
    assert demand["cpu_s"] == pytest.approx(demand["us_per_request"] * demand["requests"] / 1e6)
