"""The benchmark sessions' own logic: parsing wrk, summarising runs, refusing bad options, the
hostile table."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.scenarios.ceiling import Run, pairings, summary
from bench.scenarios.hostile import OURS, PEERS, command, markdown
from bench.scenarios.hostile_cases import CASES, Answer
from bench.wrk import parse_wrk

WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:41011/hello/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   843.21us  161.38us   4.12ms   93.70%
    Req/Sec    59.23k     2.08k   61.95k    84.00%
  Latency Distribution
     50%  815.00us
     75%  846.00us
     90%  909.00us
     99%    1.74ms
  294727 requests in 5.00s, 43.57MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  58936.21
Transfer/sec:      8.71MB
"""


def test_parse_wrk_reads_throughput_percentiles_and_errors() -> None:
    figures = parse_wrk(WRK_OUTPUT)
    assert figures["requests_per_s"] == 58936.21
    assert figures["p50_ms"] == pytest.approx(0.815)
    assert figures["p99_ms"] == pytest.approx(1.74)
    assert figures["requests"] == 294727
    assert figures["errors"] == {"read": 3, "timeout": 2, "non-2xx": 7}


def test_parse_wrk_refuses_output_it_does_not_understand() -> None:
    with pytest.raises(ValueError, match="Requests/sec"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_summary_takes_medians_and_ratios_and_survives_failures() -> None:
    first = pairings()[0]
    ours, peer = first.ours.label, first.peers[0].label
    runs = [
        Run(ours, 1, 60000, 0.8, 1.7),
        Run(ours, 2, 50000, 0.9, 1.9),
        Run(ours, 3, 0, failure="crashed"),
        Run(peer, 1, 40000, 1.2, 2.4),
        Run(peer, 2, 20000, 1.4, 2.6),
    ]
    [row] = summary(runs, [first])
    assert row["ours_rps"] == 55000 and row["peer_rps"] == 30000
    assert row["ratio"] == pytest.approx(55000 / 30000)
    assert row["met"] is (first.target <= 55000 / 30000)
    [failed] = summary([Run(ours, 1, failure="no")], [first])
    assert failed["ratio"] is None and failed["met"] is False


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("bench.scenarios.ceiling", ["--duration", "0"]),
        ("bench.scenarios.ceiling", ["--only", "no such pairing"]),
        ("bench.scenarios.scale", ["--models", "nginx"]),
        ("bench.scenarios.scale", ["--counts", "10,abc"]),
        ("bench.scenarios.scale", ["--counts", "999999999"]),
        ("bench.scenarios.scale", ["--fork-cap", "0"]),
        ("bench.scenarios.slowclients", ["--slow", "0"]),
        ("bench.scenarios.slowclients", ["--interval", "0.2,0.1"]),
        ("bench.scenarios.crosscheck", ["--servers", "fork"]),
        ("bench.report.scenario_charts", ["/no/such/folder"]),
    ],
)
def test_bad_options_are_one_line_errors(module: str, args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_hostile_table_shows_our_common_answer_or_each_when_they_differ() -> None:
    agree = [Answer(case.status, closed=True) for case in CASES]
    differ = [*agree[:-1], Answer(None, closed=False, note="no answer in 4 s")]
    peer = [Answer(200, closed=False) for _ in CASES]
    table = markdown(
        {"asyncio": agree, "threaded": agree, "prefork": differ, "gunicorn-sync": peer}
    ).splitlines()
    assert table[0] == "| case | ours (asyncio, threaded, prefork) | gunicorn -k sync -w 2 |"
    assert len(table) == 2 + len(CASES)
    assert table[2] == f"| {CASES[0].name} | {CASES[0].status}, closed | 200, kept open |"
    assert "prefork: no answer in 4 s" in table[-1] and "asyncio: 408, closed" in table[-1]


def test_hostile_commands_run_ours_with_a_short_header_timeout_and_peers_on_a_port() -> None:
    for name in OURS:
        argv, port = command(name)
        assert port is None and argv[argv.index("--header-timeout") + 1] == "1.0"
    for name in PEERS:
        argv, port = command(name)
        assert port is not None and any(str(port) in part for part in argv)
