"""C10K (bench/scenarios/scale.py), measured once on a tiny configuration: 50 idle connections
against asyncio, threaded and iterative, and fork_reap capped at 20; each test checks a figure
against what the model guarantees. Then the summary and the caps, on fixed numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.scenarios import scale

# one worker runs the module: the scenario (`steps`) is run once
pytestmark = pytest.mark.xdist_group("scale_scenario")
HELD = 50
FORK_CAP = 20
TINY = scale.ScaleSettings(
    models=("asyncio", "threaded", "fork_reap", "iterative"),
    counts=(HELD,),
    settle_s=0.3,
    sample=4,
    fresh=2,
    timeout_s=1.0,
    fork_cap=FORK_CAP,
)


@pytest.fixture(scope="module")
def steps(tmp_path_factory) -> dict[str, dict]:
    folder: Path = tmp_path_factory.mktemp("scale")
    document = scale.run_scale(folder, TINY)
    assert json.loads((folder / "scale.json").read_text()) == json.loads(json.dumps(document))
    assert sorted(path.name for path in folder.iterdir()) == ["scale.json"]  # no registry left
    return {step["model"]: step for step in document["steps"]}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["asyncio", "threaded"])
def test_keep_alive_models_hold_every_connection_with_one_descriptor_each(steps, model) -> None:
    step = steps[model]
    assert step["opened"] == step["accepted"] == step["held"] == HELD
    assert step["errors"] == {} and step["in_backlog"] == 0 and step["closed_by_server"] == 0
    assert step["descriptors_per_connection"] == pytest.approx(1.0, abs=0.1)  # one socket each
    assert step["sample"]["answered"] == step["sample"]["asked"] == 4  # served while holding
    assert step["fresh"]["answered"] == 2
    assert step["stopped_clean"] is True
    if model == "threaded":
        assert step["threads"] >= HELD + 1  # a thread per connection, and the main one


@pytest.mark.slow
def test_fork_model_is_capped_and_holds_a_child_per_connection(steps) -> None:
    step = steps["fork_reap"]
    assert step["connections"] == step["held"] == FORK_CAP and step["capped_from"] == HELD
    live_children = step["processes"] - step["zombies"] - 1
    assert FORK_CAP <= live_children <= FORK_CAP + 2  # one per connection, nothing beyond the cap
    assert step["stopped_clean"] is True  # the process group was killed and reaped


@pytest.mark.slow
def test_one_at_a_time_model_holds_the_rest_in_the_backlog_unserved(steps) -> None:
    step = steps["iterative"]
    assert step["opened"] == HELD and step["errors"] == {}
    assert step["accepted"] == step["held"] == 1  # blocked on the first, idle, connection
    assert step["in_backlog"] == HELD - 1  # the kernel's accept queue holds the others
    assert step["fresh"]["answered"] == 0 and step["fresh"]["failures"] == {"timeout": 2}
    assert step["sample"]["answered"] <= 1  # only the one it accepted, if sampled
    assert step["stopped_clean"] is True


def test_scale_summary_takes_each_models_largest_step() -> None:
    def step(model: str, asked: int, held: int, kib: float) -> dict:
        return {
            "model": model,
            "kind": "one event loop",
            "connections": asked,
            "held": held,
            "in_backlog": 0,
            "errors": {"timeout": 2} if held < asked else {},
            "rss_per_connection_kib": kib,
            "uss_per_connection_kib": kib - 1,
            "descriptors_per_connection": 1.0,
            "sample": {"asked": 4, "answered": 4, "latency_ms": {"p50": 0.5}},
            "fresh": {"asked": 2, "answered": 1},
            "verdict": "",
        }

    rows = scale.rows_per_model([step("asyncio", 100, 100, 3.0), step("asyncio", 1000, 998, 4.0)])
    assert rows == [
        {
            "model": "asyncio",
            "kind": "one event loop",
            "asked": 1000,
            "held": 998,
            "in_backlog": 0,
            "failed": 2,
            "rss_per_connection_kib": 4.0,
            "uss_per_connection_kib": 3.0,
            "descriptors_per_connection": 1.0,
            "sample_answered": "4/4",
            "fresh_answered": "1/2",
            "sample_p50_ms": 0.5,
            "verdict": "",
        }
    ]


def test_counts_are_capped_and_the_cap_is_said(monkeypatch) -> None:
    monkeypatch.setattr(scale, "descriptor_room", lambda: 5000)
    settings = scale.ScaleSettings(counts=(100, 1000, 10000), fork_cap=256)
    assert scale.model_counts("asyncio", settings) == [
        (100, None, ""),
        (1000, None, ""),
        (5000, 10000, "10,000 capped to 5,000 by the descriptor limit"),
    ]
    assert scale.model_counts("fork", settings) == [
        (100, None, ""),
        (256, 10000, "1,000 and 10,000 capped to 256 by --fork-cap (process ids)"),
    ]
