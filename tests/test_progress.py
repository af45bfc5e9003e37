"""Progress with an estimate from the start (bench/run/console.py, bench/run/estimate.py): a
plan's estimated length is the sum of its own durations and the calibrated fixed costs; the
countdown refines it from the real pace; with the output in a file every step's line says the
steps done of all and the time left; the scenarios plan and count their steps the same way."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from dataclasses import fields, replace
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from bench.catalog import SERVERS
from bench.launch import REPO_ROOT
from bench.plan import PROFILES, Cell, Plan, Settings, build_plan
from bench.record import CellRecord, ServerReports
from bench.run.console import Countdown, Reporter, duration, estimate_line
from bench.run.estimate import (
    CELL_FIXED_S,
    GENERATOR_START_S,
    MICRO_S,
    PEER_START_S,
    PROBE_S,
    WRK_FIXED_S,
    cell_s,
    estimate,
    report_s,
)
from bench.scenarios import capacity, scale, slowclients
from bench.scenarios.steps import after_cells

REFERENCE = REPO_ROOT / "results" / "reference" / "run.json"
TAG = re.compile(r"^\[(\d+)/(\d+), ~(\d+) (s|min) left\] ")


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plain_reporter() -> tuple[Reporter, io.StringIO]:
    """A reporter writing to a file: no terminal, so no bar, and every line tagged."""
    out = io.StringIO()
    return Reporter(console=Console(file=out, width=300)), out


# the estimate of a plan -------------------------------------------------------------------------


def test_a_known_plan_is_estimated_as_the_sum_of_its_own_durations() -> None:
    """asyncio and sleep, hello and io, two rounds: 8 cells of 0.5 + 2 + 0.5 s each and their
    fixed cost; wrk on asyncio's two hello cells only (sleep never outruns the generator, io
    never lets a server outrun it); the generator's start and one ceiling; three probes."""
    settings = Settings(
        servers=("asyncio", "sleep"),
        workloads=("hello", "io"),
        users=(4,),
        warmup_s=0.5,
        duration_s=2.0,
        settle_s=0.5,
        repeat=2,
    )
    plan = build_plan(settings)
    assert len(plan.cells) == 8
    cells = 8 * (0.5 + 2.0 + 0.5 + CELL_FIXED_S) + 2 * (2 + WRK_FIXED_S)
    start = GENERATOR_START_S + (0.5 + 2.0 + CELL_FIXED_S)
    expected = start + cells + 3 * PROBE_S  # before, before round 2, after
    assert estimate(plan, wrk_installed=True).total_s == pytest.approx(expected)
    without_wrk = estimate(plan, wrk_installed=False).total_s
    assert without_wrk == pytest.approx(expected - 2 * (2 + WRK_FIXED_S))
    parts = dict(estimate(plan, wrk_installed=True).parts((("report", 5.0),)))
    assert parts == pytest.approx({"start-up": start, "cells": cells + 3 * PROBE_S, "report": 5.0})


def test_a_peer_costs_its_start_and_wrk_its_whole_seconds() -> None:
    settings = Settings(servers=("uvicorn",), workloads=("hello",), users=(8,), duration_s=1.5)
    cell = Cell("uvicorn", "hello", 8, "keepalive", 1)
    base = settings.warmup_s + 1.5 + settings.settle_s + CELL_FIXED_S
    assert cell_s(settings, cell, SERVERS["uvicorn"], wrk=False) == pytest.approx(
        base + PEER_START_S
    )
    with_wrk = cell_s(settings, cell, SERVERS["uvicorn"], wrk=True)
    assert with_wrk == pytest.approx(base + PEER_START_S + 2 + WRK_FIXED_S)  # wrk -d2s


def test_after_the_cells_come_the_micro_benchmarks_and_the_report_only_where_run() -> None:
    default, quick = build_plan(PROFILES["default"]), build_plan(PROFILES["quick"])
    report = ("report", report_s(len(default.cells)))
    assert report[1] > report_s(len(quick.cells))  # a larger run, more to draw
    assert after_cells(default) == (("micro-benchmarks", MICRO_S), report)
    assert after_cells(default, micro=False) == (report,)
    assert after_cells(quick) == (("report", report_s(len(quick.cells))),)
    scenarios = build_plan(replace(quick.settings, scenarios=True))
    with_scenarios = dict(after_cells(scenarios))
    assert {"capacity (at most)", "C10K (at most)", "slow clients"} <= with_scenarios.keys()


def stored_plan(document: dict) -> Plan:
    """The plan a stored run ran, from its own settings and cells."""
    stored = document["metadata"]["settings"]
    known = {f.name for f in fields(Settings)}
    settings = Settings(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items() if k in known}
    )
    return Plan(settings, [Cell(**cell) for cell in document["plan"]["cells"]])


def test_the_default_estimate_is_within_a_quarter_of_the_reference_runs_real_length() -> None:
    """results/reference is a default run (wrk installed): from its start to its last cell's
    start took as long as the estimate of everything before that cell, within 25 % (the issue's
    target; the calibration puts it within a few per cent)."""
    document = json.loads(REFERENCE.read_text())
    plan = stored_plan(document)
    assert plan.settings.profile == "default" and len(plan.cells) == len(document["cells"])
    started = datetime.strptime(document["metadata"]["started"], "%Y-%m-%dT%H:%M:%S%z")
    real = document["cells"][-1]["started"] - started.timestamp()
    planned = estimate(plan, wrk_installed=True)
    before_last = planned.total_s - planned.cells_s[-1] - PROBE_S
    assert 0.75 * real <= before_last <= 1.25 * real, (before_last, real)


# the countdown ----------------------------------------------------------------------------------


def test_before_any_step_the_time_left_is_the_plans_own_estimate() -> None:
    clock = Clock()
    countdown = Countdown(120.0, 12, clock)
    assert countdown.left_s() == 120.0 and countdown.tag() == "[0/12, ~2 min left]"
    clock.now += 30  # the first step under way: the time it has run is no longer left
    assert countdown.left_s() == pytest.approx(90.0)


@pytest.mark.parametrize("pace", [0.5, 1.0, 2.0])
def test_the_time_left_follows_the_real_pace_of_the_steps_done(pace: float) -> None:
    """Ten steps planned at 10 s: after three that took `pace` times their plan, the seven left
    take 70 s times `pace`."""
    clock = Clock()
    countdown = Countdown(100.0, 10, clock)
    for _ in range(3):
        clock.now += 10 * pace
        countdown.advance(10.0)
    assert countdown.ratio == pytest.approx(pace)
    assert countdown.left_s() == pytest.approx(70.0 * pace)
    assert countdown.tag() == f"[3/10, {duration(70.0 * pace, rough=True)} left]"


def test_a_slow_start_up_lengthens_the_rest_and_dropped_steps_shorten_it() -> None:
    clock = Clock()
    countdown = Countdown(50.0, 4, clock)
    clock.now += 20  # a start-up planned at 10 s, not a step
    countdown.advance(10.0, steps=0)
    assert countdown.done == 0 and countdown.left_s() == pytest.approx(80.0)
    countdown.drop(20.0, steps=2)  # a sweep that ended at its knee
    assert countdown.steps == 2 and countdown.left_s() == pytest.approx(40.0)


@pytest.mark.parametrize(
    ("seconds", "exact", "rough"),
    [
        (44.4, "44 s", "~45 s"),
        (470, "7 min 50 s", "~8 min"),
        (3599, "59 min 59 s", "~1 h 00 min"),
        (5400, "1 h 30 min", "~1 h 30 min"),
    ],
)
def test_durations_read_as_people_say_them(seconds: float, exact: str, rough: str) -> None:
    assert (duration(seconds), duration(seconds, rough=True)) == (exact, rough)


# the lines --------------------------------------------------------------------------------------


def failed_cell(key: str) -> CellRecord:
    return CellRecord(
        server="asyncio",
        workload="hello",
        users=2,
        mode="keepalive",
        repetition=1,
        key=key,
        status="failed",
        reason="did not start: [no port]",
        command=[],
        request_cap=None,
        started=time.time(),
        load=None,
        generator_bound=False,
        generator_bound_cause="",
        generator_bound_reason="",
        telemetry=None,
        leak=None,
        listen_overflows=None,
        server_output_tail="",
        window=None,
        service_demand=None,
        server_reports=ServerReports(),
        wrk=None,
    )


def test_in_a_file_the_estimate_comes_first_and_every_cell_line_says_k_of_n_and_the_time_left():
    reporter, out = plain_reporter()
    keys = [f"asyncio/hello/2u/keepalive/r{n}" for n in (1, 2, 3)]
    with reporter.counting("the run", [("cells", 30.0), ("report", 5.0)], 3, "cells") as counter:
        for key in keys:
            counter.now(key, 10.0)
            reporter.cell(failed_cell(key))
    lines = out.getvalue().splitlines()
    assert lines[0] == "the run: 3 cells, estimated 35 s (cells 30 s, report 5 s)"
    for index, (line, key) in enumerate(zip(lines[1:4], keys, strict=True), 1):
        tag = TAG.match(line)
        assert tag and (int(tag[1]), int(tag[2])) == (index, 3), line
        assert line[tag.end() :] == f"✗ {key}: did not start: [no port]"
    left = [int(TAG.findall(line)[0][2]) for line in lines[1:4]]
    assert left == sorted(left, reverse=True) and left[-1] <= 5  # only the report is left
    assert lines[4].startswith("the run: 3 cells in ") and lines[4].endswith("planned 30 s")


def test_in_a_terminal_the_bar_says_it_and_the_lines_stay_as_they_were() -> None:
    out = io.StringIO()
    reporter = Reporter(
        console=Console(file=out, width=200, force_terminal=True, color_system=None)
    )
    assert reporter.live and not plain_reporter()[0].live
    with reporter.counting("the run", [("cells", 10.0)], 1, "cells") as counter:
        counter.now("asyncio/hello", 10.0)
        reporter.cell(failed_cell("asyncio/hello/2u/keepalive/r1"))
    assert "[1/1," not in out.getvalue()
    assert "✗ asyncio/hello/2u/keepalive/r1: did not start" in out.getvalue()
    quiet = Reporter(quiet=True, console=Console(file=io.StringIO(), force_terminal=True))
    assert not quiet.live  # no bar: the lines are tagged instead


def test_an_upper_bound_says_so() -> None:
    line = estimate_line("capacity", [("rates", 100.0)], 40, "steps", at_most=True)
    assert line == "capacity: 40 steps, estimated at most 1 min 40 s"


# the scenarios ----------------------------------------------------------------------------------


def test_a_capacity_sweep_plans_every_rate_and_each_servers_start() -> None:
    sweep = capacity.Sweep(servers=("asyncio", "threaded"), rates=(10, 20, 40), duration_s=1.0)
    step = sweep.warmup_s + 1.0 + capacity.STEP_FIXED_S
    first = step + CELL_FIXED_S
    planned = capacity.planned(sweep)
    assert [len(steps) for steps in planned] == [3, 3]
    assert [*planned[0], *planned[1]] == pytest.approx(
        [first + GENERATOR_START_S, step, step, first, step, step]
    )


def test_slow_clients_plan_two_phases_per_model() -> None:
    settings = slowclients.SlowSettings(models=("asyncio", "iterative"), duration_s=3.0)
    phase = CELL_FIXED_S + settings.warmup_s + 3.0
    each = 2 * phase + slowclients.HEAD_START_S
    assert slowclients.planned(settings) == pytest.approx([each, each])


def test_a_c10k_climb_that_fails_drops_the_counts_it_will_not_hold(monkeypatch) -> None:
    """iterative holds 100, then fails at 1,000: 10,000 is never tried, and leaves the count
    and the time left; the lines say 1/3, then 2/2."""
    settings = scale.ScaleSettings(models=("iterative",), counts=(100, 1000, 10000))

    def measure_step(model: str, count: int, *_) -> scale.Step:
        return scale.Step(model, count, held=count, failure="" if count < 1000 else "it died")

    monkeypatch.setattr(scale, "measure_step", measure_step)
    reporter, out = plain_reporter()
    session = SimpleNamespace(say=reporter.say)
    plan = scale.planned(settings)
    assert len(plan[0]) == 3
    with reporter.counting("scale", [("steps", sum(plan[0]))], 3, "steps") as counter:
        steps = scale.measure_model("iterative", settings, [], session, counter)
        assert counter.countdown.steps == 2
        assert counter.countdown.planned_s == pytest.approx(sum(plan[0][:2]))
    assert [step.connections for step in steps] == [100, 1000]
    tags = [TAG.match(line) for line in out.getvalue().splitlines()[1:3]]
    assert [(int(t[1]), int(t[2])) for t in tags if t] == [(1, 3), (2, 2)]


# a real run, its output in a file ---------------------------------------------------------------


@pytest.mark.slow
def test_a_tiny_run_in_a_file_says_its_estimate_first_then_counts_its_cells(
    tmp_path: Path,
) -> None:
    """Two cells, no ceiling, no wrk: the estimate's line before the first cell's; each cell's
    line tagged 1/2 then 2/2 with a time left. How near the real length the estimate comes is
    measured by hand (a shared machine's speed moves), never asserted by the suite."""
    log = tmp_path / "run.log"
    command = [
        *(sys.executable, "-m", "bench", "run", "--profile", "quick"),
        *("--servers", "asyncio,threaded"),
        *("--workloads", "hello", "--users", "2", "--duration", "0.5s", "--warmup", "0.2s"),
        *("--settle", "0.2s", "--no-ceiling", "--no-wrk-bound-cells", "--no-micro"),
        *("--out", str(tmp_path / "run")),
    ]
    with log.open("w") as output:
        done = subprocess.run(command, cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT)
    said = log.read_text()
    assert done.returncode == 0, said[-2000:]
    lines = said.splitlines()
    (first,) = [i for i, line in enumerate(lines) if line.startswith("the run: 2 cells, estimated")]
    cells = [(i, TAG.match(line)) for i, line in enumerate(lines) if TAG.match(line)]
    assert [(int(tag[1]), int(tag[2])) for _, tag in cells] == [(1, 2), (2, 2)]
    assert first < cells[0][0]
    assert all("✓ " in lines[i] for i, _ in cells), said
    (estimated,) = map(float, re.findall(r"estimated (\d+) s", lines[first]))
    assert estimated > 0  # how near the real length it comes is measured, not asserted here
