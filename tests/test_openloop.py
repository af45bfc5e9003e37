"""Open-loop load: latency counted from the intended send time shows a stall that a closed loop
hides, and a server that cannot keep up has its backlog counted, not dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.launch import ServerProcess, servers_command
from bench.load import BEHIND, LoadResult, run_locust

pytestmark = pytest.mark.slow


def load(server: ServerProcess, folder: Path, users: int, rate: float = 0.0) -> LoadResult:
    result = run_locust(
        server.url,
        "/hello/",
        users,
        warmup_s=0.0,
        duration_s=3.0,
        close=False,
        max_requests=None,
        out_dir=folder,
        cpus=None,
        rate=rate,
    )
    assert not result.error, result.error
    return result


def test_open_loop_p99_shows_a_one_second_stall_that_the_closed_loop_hides(tmp_path: Path) -> None:
    command = servers_command("asyncio", "tests.apps:stall_once")
    with ServerProcess(command) as server:
        closed = load(server, tmp_path / "closed", users=2)
    with ServerProcess(command) as server:
        opened = load(server, tmp_path / "open", users=2, rate=100)
    # closed loop: the two users wait out the stall together; it is two requests of thousands
    assert closed.requests > 1000
    assert closed.latency_us["max"] >= 900_000  # the stall happened
    assert closed.latency_us["p99"] < 250_000  # and the closed loop's p99 does not show it
    # open loop: the ~100 requests due during the stall all count their wait from their due time
    assert opened.offered_rate == 100
    assert opened.window_s == pytest.approx(3.0, abs=0.01)  # the schedule's window
    assert opened.requests == pytest.approx(300, abs=3)
    assert opened.latency_us["p99"] >= 800_000
    assert opened.latency_us["p50"] < 100_000  # most requests were on time
    # the same requests timed from their actual send: the stall shrinks to a few of them
    assert opened.service_latency_us["p99"] < opened.latency_us["p99"] / 2
    assert opened.late > 50 and opened.max_lag_s >= 0.8


def test_open_loop_counts_the_requests_an_overloaded_server_never_got(tmp_path: Path) -> None:
    """sleep at 50 ms per request serves at most 20 req/s; 100 req/s are due in the window."""
    with ServerProcess(servers_command("sleep", "helloworld.plain:app", "--sleep", "0.05")) as srv:
        result = load(srv, tmp_path, users=2, rate=100)
    behind = result.failures.get(BEHIND, 0)
    assert result.requests + result.failed == pytest.approx(300, abs=3)  # every request due
    assert behind > 100  # most of them could not even be sent
    assert result.throughput < 30
    # most requests due never got an answer: they stay in the percentiles, later than any
    # answer, so the median is not a figure of the answered few but "more than the limit"
    assert result.due == pytest.approx(300, abs=3)
    assert result.censored == result.due - result.requests > result.due / 2
    assert result.latency_us["p50"] is None and result.latency_us["p99"] is None
    assert result.latency_us["max"] is None and result.censored_above_us == 2_000_000
    assert result.service_latency_us["p50"] < 200_000  # what a closed loop would report
    # the requests went out seconds late because their users waited on the server; the
    # generator's own lag (from due, or from its user being free, to the send) stayed small
    assert result.max_lag_s > 1.0 and result.send_lag_us["p99"] < 200_000


@pytest.mark.alone  # the generator is on time only on a CPU of its own
def test_the_generators_own_lateness_is_not_charged_to_a_fast_server(tmp_path: Path) -> None:
    """A fast server, its users always free before their next request is due: each request's
    latency from its due time, less the generator's own lateness to the send, is its time from
    the send to the answer, so the two distributions agree; the lateness is reported apart."""
    with ServerProcess(servers_command("asyncio", "helloworld.plain:app")) as server:
        opened = load(server, tmp_path, users=2, rate=100)
    assert opened.requests == pytest.approx(300, abs=3)
    for p in ("p50", "p90"):
        assert opened.latency_us[p] == pytest.approx(opened.service_latency_us[p], rel=0.01)
    assert opened.send_lag_us["p50"] is not None  # measured, and shown apart
