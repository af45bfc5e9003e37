"""The capacity figure: the rule on fixed steps, a sweep of a server whose capacity the model
fixes (sleep: one request at a time, 20 ms after each: about 48 req/s), and the chart read back
from a fixed capacity.json."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import psutil
import pytest

from bench.report.capacity_chart import capacity_chart, describe, draw
from bench.scenarios import capacity
from bench.scenarios.capacity import (
    CapacityError,
    Criteria,
    Sweep,
    Sweeper,
    capacity_of,
    is_contended,
    is_generator_bound,
    rate_steps,
    run_capacity,
    sweep_and_draw,
    verdict,
)

LIMITS = Criteria(p99_ms=100.0, error_fraction=0.001)
NOT_SENT = "not sent: behind schedule"


def step(
    rate: float,
    p99_ms: float = 5.0,
    *,
    requests: int = 1000,
    failures: dict[str, int] | None = None,
    throughput: float | None = None,
    locust_cpu: float = 0.3,
    generator_bound: bool = False,
) -> dict:
    """A step record as the sweep stores it, with only the figures the rule reads."""
    return {
        "offered_rate": rate,
        "throughput": rate if throughput is None else throughput,
        "requests": requests,
        "failures": failures or {},
        "latency_us": {"p50": p99_ms * 200, "p99": p99_ms * 1000} if requests else {},
        "generator_cpu_share": locust_cpu,
        "generator_cpus_busy": locust_cpu,  # locust's own work keeps its CPU this busy
        "generator_bound": generator_bound,
        "error": "",
    }


def measured(rate: float, busy: float = 0.4, **figures) -> dict:
    """A step as Sweeper.measure returns it, for a sweep without locust."""
    record = {**step(rate, **figures), "generator_cpus_busy": busy, "server_cpu_share": 0.1}
    return {**record, "error_fraction": capacity.error_fraction(record)}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# the rule ---------------------------------------------------------------------------------------


def test_a_step_passes_up_to_each_limit_and_fails_past_it() -> None:
    assert verdict(step(100, p99_ms=100.0), LIMITS) == ""  # at most the limit: passes
    assert verdict(step(100, p99_ms=100.5), LIMITS) == "p99 100.5 ms > 100 ms"
    assert verdict(step(100, requests=999, failures={"HTTP 503": 1}), LIMITS) == ""  # 0.1 %
    assert verdict(step(100, requests=998, failures={"HTTP 503": 2}), LIMITS).startswith(
        "errors 0.20% > 0.10%"
    )
    # requests never sent count as errors like any other failure
    assert verdict(step(100, requests=990, failures={NOT_SENT: 10}), LIMITS).startswith("errors")
    assert verdict(step(100, requests=0, failures={}), LIMITS) == "no request was answered"


def test_capacity_is_the_highest_passing_rate() -> None:
    steps = [step(100), step(200, p99_ms=40), step(400, p99_ms=99), step(800, p99_ms=350)]
    assert capacity_of(steps, LIMITS) == {
        "capacity": 400,
        "lower_bound": False,
        "stopped_at": 800,
        "stop_reason": "p99 350.0 ms > 100 ms",
    }
    errors = [step(100), step(200, requests=990, failures={"ConnectionResetError": 10})]
    assert capacity_of(errors, LIMITS)["capacity"] == 100


def test_a_pass_above_the_first_failure_does_not_count() -> None:
    """Non-monotonic: 400 fails, 800 happens to pass; the server went through 400 to get to 800,
    so its capacity is 200, the highest rate below the first failure."""
    steps = [step(800), step(100), step(400, p99_ms=180), step(200)]  # in any order
    result = capacity_of(steps, LIMITS)
    assert (result["capacity"], result["stopped_at"]) == (200, 400)


def test_no_capacity_when_the_first_rate_fails_and_a_lower_bound_when_none_fails() -> None:
    assert capacity_of([step(20, p99_ms=500)], LIMITS)["capacity"] is None
    result = capacity_of([step(20), step(40)], LIMITS, "passed up to the last rate, 40")
    assert result["capacity"] == 40 and result["lower_bound"]
    assert describe(result) == "≥ 40 req/s"


def test_a_generator_bound_step_ends_the_sweep_with_a_lower_bound() -> None:
    # short of the rate with locust saturated: the generator's figure
    assert is_generator_bound(step(10_000, throughput=8_600, locust_cpu=0.97), False)
    # short of the rate, locust idle: the server's (sleep serves 48 of 80 req/s)
    assert not is_generator_bound(step(80, throughput=48, locust_cpu=0.25), True)
    # locust busy but the rate delivered and the limits kept: a valid step
    assert not is_generator_bound(step(8_000, locust_cpu=0.95), False)
    steps = [step(4_000), step(8_000, p99_ms=300, generator_bound=True)]
    result = capacity_of(steps, LIMITS)
    assert result["capacity"] == 4_000 and result["lower_bound"]
    assert result["stop_reason"].startswith("generator-bound")


def test_a_failure_while_others_took_the_generators_cpu_is_measured_again() -> None:
    starved = {**step(5_840, throughput=3_035, locust_cpu=0.53), "generator_cpus_busy": 0.99}
    assert is_contended(starved, True)
    assert not is_contended({**starved, "generator_cpus_busy": 0.7}, True)  # a quiet CPU
    assert not is_contended({**starved, "throughput": 5_840}, False)  # it passed: no doubt
    saturated = {**starved, "generator_cpu_share": 0.95}  # locust had the CPU: generator-bound
    assert not is_contended(saturated, True) and is_generator_bound(saturated, True)


def test_rates_rise_by_the_factor_up_to_the_bound() -> None:
    assert rate_steps(10, 2, 80) == (10, 20, 40, 80)
    assert rate_steps(20, 1.5, 100) == (20, 30, 45, 67.5)
    assert rate_steps(1000, 1.5, 12_000)[-2:] == (7590, 11400)  # 3 significant digits
    with pytest.raises(CapacityError):
        rate_steps(10, 1, 80)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--servers", "fork"], "fork leaks by design"),
        (["--servers", "nope"], "unknown nope"),
        (["--rates", "40,20"], "the rates must rise"),
        (["--rates", "20,200000"], "at most --max-rate 100000"),
        (["--factor", "0.5"], "--factor > 1"),
        (["--error-limit", "lots"], "expected a percentage"),
        (["--duration", "0.1s"], "--duration must be"),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        capacity.main(args)
    error = capsys.readouterr().err
    assert exit_.value.code == 2
    assert message in error and len(error.strip().splitlines()) == 1


def test_run_capacity_refuses_a_leaking_server_before_starting_anything(tmp_path: Path) -> None:
    with pytest.raises(CapacityError, match="fork_leak leaks by design"):
        run_capacity(tmp_path, ["asyncio", "fork_leak"])


# measured -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.alone  # a generator whose CPU others take is flagged: the 80 req/s step must not be
def test_sleep_20ms_sustains_40_requests_per_second_not_80(tmp_path: Path) -> None:
    """sleep serves one request, then sleeps 20 ms: at most 1 / 20.x ms, about 48 req/s. Periodic
    arrivals at 40 req/s find it free (no queue); at 80 the queue grows through the window."""
    sweep = Sweep(servers=("sleep",), rates=(10, 20, 40, 80), duration_s=1.0, warmup_s=0.3)
    document = sweep_and_draw(sweep, tmp_path, quiet=True)
    (entry,) = document["servers"]
    assert [s["offered_rate"] for s in entry["steps"]] == [10, 20, 40, 80]
    assert [s["passed"] for s in entry["steps"]] == [True, True, True, False]
    assert entry["capacity"] == 40 and not entry["lower_bound"]
    overloaded = entry["steps"][-1]
    assert not overloaded["generator_bound"]
    assert overloaded["throughput"] <= 52  # 1 / 20 ms, and a little for the window's edges
    assert overloaded["latency_us"]["p99"] > 100_000
    stored = json.loads((tmp_path / "capacity.json").read_text())
    assert stored == json.loads(json.dumps(document))
    assert (tmp_path / "capacity.png").stat().st_size and (tmp_path / "capacity.svg").is_file()


@pytest.mark.slow
def test_an_interrupt_keeps_the_steps_measured_and_stops_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    servers: list[int] = []

    def measure(self: Sweeper, server, rate: float) -> dict:
        servers.append(server.pid)
        if rate > 10:
            raise KeyboardInterrupt
        return measured(rate)

    monkeypatch.setattr(Sweeper, "measure", measure)
    sweep = Sweep(servers=("asyncio", "threaded"), rates=(10, 20, 40))
    with pytest.raises(KeyboardInterrupt):
        Sweeper.made(sweep, tmp_path, quiet=True).run()
    stored = json.loads((tmp_path / "capacity.json").read_text())
    assert stored["status"] == "interrupted"
    (entry,) = stored["servers"]  # threaded never started
    assert entry["status"] == "interrupted" and [s["offered_rate"] for s in entry["steps"]] == [10]
    assert entry["capacity"] == 10 and entry["lower_bound"]
    assert not psutil.pid_exists(servers[0])  # stopped and reaped
    assert not (tmp_path / ".processes.json").exists()


@pytest.mark.slow
def test_a_step_failed_while_the_generator_was_starved_is_measured_once_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[float] = []

    def measure(self: Sweeper, server, rate: float) -> dict:
        attempts.append(rate)
        if rate == 10 and len(attempts) == 1:  # others held the generator's CPU: short
            return measured(rate, busy=0.99, throughput=3)
        if rate == 20:  # the server's own failure, on a quiet CPU
            return measured(rate, p99_ms=500)
        return measured(rate)

    monkeypatch.setattr(Sweeper, "measure", measure)
    sweep = Sweep(servers=("asyncio",), rates=(10, 20, 40))
    document = Sweeper.made(sweep, tmp_path).run()
    (entry,) = document["servers"]
    assert attempts == [10, 10, 20]  # 10 twice; 20 failed on a quiet CPU: once, and the end
    first, second = entry["steps"]
    assert first["passed"] and first["first_attempt"]["throughput"] == 3
    assert not second["passed"] and "first_attempt" not in second
    assert (entry["capacity"], entry["stopped_at"]) == (10, 20)


@pytest.mark.slow
def test_a_server_that_cannot_serve_the_workload_is_skipped(tmp_path: Path) -> None:
    sweep = Sweep(servers=("basic",), workload="io", rates=(10,))
    document = Sweeper.made(sweep, tmp_path).run()
    (entry,) = document["servers"]
    assert entry["status"] == "skipped" and entry["capacity"] is None and not entry["steps"]


# the chart ------------------------------------------------------------------------------------


def fixed_document() -> dict:
    """A small capacity.json: asyncio stopped by the generator, sleep by its own p99."""

    def stored(rate: float, p50_ms: float, p99_ms: float, bound: bool = False) -> dict:
        return {
            "offered_rate": rate,
            "latency_us": {"p50": p50_ms * 1000, "p99": p99_ms * 1000},
            "generator_bound": bound,
        }

    return {
        "format": "capacity/1",
        "metadata": {
            "settings": {"duration_s": 2.0, "warmup_s": 0.5},
            "cpu_count": 2,
            "cpu_model": "test CPU",
            "commit": "0123456789abcdef",
        },
        "status": "complete",
        "limits": {"p99_ms": 100.0, "error_fraction": 0.001},
        "workload": "hello",
        "users": 16,
        "servers": [
            {
                "server": "asyncio",
                "steps": [
                    stored(1000, 0.8, 2.0),
                    stored(4000, 0.9, 6.0),
                    stored(8000, 90, 300, True),
                ],
                "capacity": 4000,
                "lower_bound": True,
                "stopped_at": 8000,
            },
            {
                "server": "sleep",
                "steps": [stored(20, 3, 9), stored(40, 4.5, 16), stored(80, 540, 870)],
                "capacity": 40,
                "lower_bound": False,
                "stopped_at": 80,
            },
        ],
    }


def test_the_chart_draws_the_stored_latencies_limit_and_capacities(tmp_path: Path) -> None:
    figure = capacity_chart(fixed_document())
    (ax,) = figure.axes
    lines = {line.get_gid(): line for line in ax.get_lines()}
    assert list(lines["p99|asyncio"].get_xdata()) == [1000, 4000, 8000]
    assert list(lines["p99|asyncio"].get_ydata()) == [2.0, 6.0, 300.0]
    assert list(lines["p50|sleep"].get_ydata()) == [3.0, 4.5, 540.0]
    assert lines["p50|sleep"].get_linestyle() == "--"
    assert list(lines["limit"].get_ydata()) == [100.0, 100.0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    marks = {c.get_gid(): c.get_offsets().tolist() for c in ax.collections}
    assert marks["capacity|asyncio"] == [[4000, 6.0]]
    assert marks["capacity|sleep"] == [[40, 16.0]]
    assert marks["bound|asyncio"] == [[8000, 300.0]]  # hollow: the generator's figure
    assert "bound|sleep" not in marks
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "asyncio: ≥ 4,000 req/s" in legend and "sleep: 40 req/s" in legend
    (tmp_path / "capacity.json").write_text(json.dumps(fixed_document()))
    assert all(path.stat().st_size for path in draw(tmp_path))
