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
  294727 requests in 5.00s, 43.57MB read
Requests/sec:  58936.21
BENCH_WRK {"requests":294727,"duration_us":5000000,"errors":{"connect":0,"read":3,"write":0,\
"status":7,"timeout":2},"latency_us":{"p50":815,"p75":846,"p90":909,"p99":1740,"p99.9":2500,\
"p99.99":4000,"mean":843.2,"max":4120}}
"""


def test_parse_wrk_reads_the_report_scripts_json_line() -> None:
    figures = parse_wrk(WRK_OUTPUT)
    assert figures["requests_per_s"] == pytest.approx(294727 / 5)
    assert figures["p50_ms"] == pytest.approx(0.815)
    assert figures["p99_ms"] == pytest.approx(1.74)
    assert figures["latency_us"]["p99.9"] == 2500
    assert figures["requests"] == 294727
    assert figures["errors"] == {"read": 3, "timeout": 2, "non-2xx": 7}


def test_parse_wrk_refuses_output_without_the_json_line() -> None:
    with pytest.raises(ValueError, match="no BENCH_WRK line"):
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
    ("command", "args"),
    [
        ("ceiling", ["--duration", "0"]),
        ("ceiling", ["--servers", "no-such-server"]),
        ("scale", ["--servers", "nginx"]),
        ("scale", ["--models", "nginx"]),  # the older spelling, the same check
        ("scale", ["--counts", "10,abc"]),
        ("scale", ["--counts", "999999999"]),
        ("scale", ["--fork-cap", "0"]),
        ("slowclients", ["--slow", "0"]),
        ("slowclients", ["--interval", "0.2,0.1"]),
        ("slowclients", ["--duration", "3 s"]),
        ("crosscheck", ["--servers", "fork"]),
        ("capacity", ["--servers", "fork"]),
        ("run", ["--duration", "3x"]),
        ("report", ["/no/such/folder"]),
    ],
)
def test_bad_options_are_one_line_errors(command: str, args: list[str], capsys) -> None:
    """In this process (a traceback would fail the test): a Python start each is slow."""
    from bench.__main__ import main

    try:
        code = main([command, *args])
    except SystemExit as exited:
        code = exited.code
    assert code == 2
    assert "error:" in capsys.readouterr().err


def test_one_command_lists_every_subcommand_and_one_vocabulary(capsys) -> None:
    from bench.__main__ import SCENARIOS, main

    said = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    for name in ("run", "report", "compare", "micro", "worker", *SCENARIOS):
        assert f"    {name}" in said, name
    for name in ("run", "capacity", "scale", "slowclients", "crosscheck", "ceiling"):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:  # in this process: a Python start each is slow
            main([name, "--help"])
        helped = capsys.readouterr().out
        assert exited.value.code == 0 and f"python -m bench {name}" in helped
        assert "--servers" in helped and "--duration" in helped, name


def test_durations_take_units_everywhere() -> None:
    from bench.options import duration
    from bench.scenarios import scale, slowclients

    assert duration("3s") == 3.0 and duration("500ms") == 0.5 and duration("2m") == 120.0
    settings, _ = slowclients.parse_args(["--servers", "asyncio", "--duration", "3s"])
    assert settings.models == ("asyncio",) and settings.duration_s == 3.0
    settings, _ = scale.parse_args(["--models", "iterative", "--duration", "250ms"])
    assert settings.models == ("iterative",) and settings.settle_s == 0.25


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
