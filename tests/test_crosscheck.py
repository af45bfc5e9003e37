"""The wrk cross-check: absent wrk means None; present, it measures a running server, keep-alive
and with a new connection per request."""

from __future__ import annotations

import shutil

import pytest

from bench import wrk
from bench.scenarios.crosscheck import crosscheck, parse_args, run_crosscheck, versus

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


def test_without_wrk_there_is_no_crosscheck(monkeypatch) -> None:
    monkeypatch.setattr(wrk.shutil, "which", lambda name: None)
    assert crosscheck("http://127.0.0.1:1", "/hello/", 4, 1, False, None) is None


def test_parse_wrk_reads_the_report_scripts_exact_percentiles() -> None:
    output = """\
Running 1s test @ http://127.0.0.1:41011/hello/
  1 threads and 4 connections
  Latency Distribution
     50%  122.00us
     99%    1.20ms
  25782 requests in 1.00s, 4.01MB read
Requests/sec:  25697.17
BENCH_WRK {"requests":25782,"duration_us":1003301,"errors":{"connect":0,"read":0,"write":0,\
"status":0,"timeout":0},"latency_us":{"p50":122,"p75":150,"p90":300,"p99":1200,"p99.9":12161,\
"p99.99":15000,"mean":180.5,"max":16000}}
"""
    figures = wrk.parse_wrk(output)
    assert figures["requests_per_s"] == pytest.approx(25782 / 1.003301)
    assert figures["requests"] == 25782
    assert figures["latency_us"]["p99.9"] == 12161 and figures["latency_us"]["mean"] == 180.5
    assert figures["duration_s"] == pytest.approx(1.003301)


def test_versus_divides_wrk_by_locust() -> None:
    locust = {"throughput": 4000.0, "latency_us": {"p50": 1000.0, "p99": 8000.0}}
    measured = {"throughput": 14000.0, "latency_us": {"p50": 250.0, "p99": 0}}
    assert versus(locust, measured) == {
        "throughput_ratio": 3.5,
        "p50_ratio": 0.25,
        "p99_ratio": None,
    }


@pytest.mark.slow
@needs_wrk
def test_crosscheck_measures_a_running_server(launch) -> None:
    server = launch("asyncio")
    figures = crosscheck(server.url, "/hello/", 4, 1, False, None)
    assert figures is not None and figures["error"] == ""
    assert figures["connections"] == 4 and figures["close"] is False
    assert figures["requests"] > 0 and figures["failures"] == {}
    assert figures["throughput"] == pytest.approx(figures["requests"] / figures["duration_s"])
    latency = figures["latency_us"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["p99.9"] <= latency["max"]


@pytest.mark.slow
@needs_wrk
def test_close_mode_opens_a_new_connection_per_request(launch) -> None:
    server = launch("asyncio", "helloworld.plain:app", "--max-requests", "30")
    figures = crosscheck(server.url, "/hello/", 2, 1, True, None)
    assert figures is not None and figures["error"] == ""
    # the server exits after 30 connections: one request per connection means at most 30 answers
    assert 0 < figures["requests"] <= 30


@pytest.mark.slow
@needs_wrk
def test_crosscheck_scenario_runs_locust_and_wrk_on_one_session(tmp_path) -> None:
    args = parse_args(["--servers", "asyncio", "--users", "2", "--duration", "1", "--warmup", "0"])
    [cell] = run_crosscheck(tmp_path, args)["cells"]
    assert cell["failure"] == "" and cell["locust"]["error"] == "" and cell["wrk"]["error"] == ""
    assert cell["locust"]["requests"] > 0 and cell["wrk"]["requests"] > 0
    # the session's one locust process logged into its folder; its registry is gone
    assert len(list((tmp_path / "generator").glob("generator-*.log"))) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["crosscheck.json", "generator"]
