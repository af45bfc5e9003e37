"""Slow clients (bench/scenarios/slowclients.py), measured once on a tiny configuration: iterative
stalls while a client trickles its header, asyncio does not. Then the degradation arithmetic and the
summary, on fixed numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.scenarios import slowclients

# one worker runs the module: the scenario (`measured`) is run once
pytestmark = pytest.mark.xdist_group("slowclients")
TINY = slowclients.SlowSettings(
    models=("iterative", "asyncio"), slow=2, users=3, duration_s=1.0, warmup_s=0.2, timeout_s=0.5
)


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> tuple[Path, dict]:
    folder: Path = tmp_path_factory.mktemp("slowclients")
    document = slowclients.run_slowclients(folder, TINY)
    assert sorted(path.name for path in folder.iterdir()) == ["slowclients.json"]  # no registry
    return folder, document


@pytest.mark.slow
def test_slow_clients_stall_iterative_and_not_asyncio(measured) -> None:
    rows = {row["model"]: row for row in measured[1]["summary"]}
    iterative, asyncio_row = rows["iterative"], rows["asyncio"]
    results = {r["model"]: r for r in measured[1]["results"]}
    without = results["iterative"]["without"]
    assert without["window_s"] == pytest.approx(TINY.duration_s, abs=0.05)
    assert iterative["throughput_without"] == without["requests"] / without["window_s"]
    assert without["requests"] >= 100  # 3 users, one at a time, a second of hello
    assert iterative["throughput_with"] == 0 and iterative["verdict"] == "stalled"
    assert asyncio_row["throughput_ratio"] > 0.3  # a wide margin on a shared, noisy machine
    document = json.loads((measured[0] / "slowclients.json").read_text())
    for result in document["results"]:
        assert result["with"]["slow_clients"]["asked"] == 2
        assert result["with"]["slow_clients"]["bytes_sent"] > 2  # they trickled, byte by byte


def test_degradation_ratios_and_verdicts() -> None:
    without = {"throughput": 1000.0, "latency_ms": {"p50": 2.0, "p99": 10.0}}
    slowed = {"throughput": 250.0, "latency_ms": {"p50": 3.0, "p99": 40.0}}
    assert slowclients.degradation(without, slowed) == {
        "throughput_ratio": 0.25,
        "p50_ratio": 1.5,
        "p99_ratio": 4.0,
        "verdict": "slowed",
    }
    stalled = slowclients.degradation(without, {"throughput": 0.0, "latency_ms": {}})
    assert stalled["throughput_ratio"] == 0.0 and stalled["verdict"] == "stalled"
    assert stalled["p50_ratio"] is None
    assert slowclients.degradation(without, {"throughput": 950.0})["verdict"] == "held up"
    assert slowclients.degradation({"throughput": 0.0}, slowed)["verdict"] == "no baseline"


def test_slowclients_summary_reads_the_stored_results() -> None:
    results = [
        {
            "model": "iterative",
            "kind": "one at a time",
            "failure": "",
            "without": {"throughput": 400.0, "latency_ms": {"p50": 1.0, "p99": 5.0}},
            "with": {"throughput": 0.0, "latency_ms": {}},
        },
        {"model": "fork", "failure": "with slow clients: did not start"},
    ]
    first, second = slowclients.rows_per_model(results)
    assert first["throughput_ratio"] == 0.0 and first["p99_ms_without"] == 5.0
    assert first["p99_ms_with"] is None and first["verdict"] == "stalled"
    assert second["failure"] and "throughput_ratio" not in second
