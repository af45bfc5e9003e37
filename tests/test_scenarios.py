"""The entry point the harness calls: both scenarios into one folder, with their charts, and a
summary it can report (a minimal configuration: the scenarios have their own tests)."""

from __future__ import annotations

import json
import time

import pytest

from bench.scenarios import scale, slowclients
from bench.scenarios.steps import run_scenarios


@pytest.mark.slow
def test_run_scenarios_writes_both_documents_and_charts(tmp_path) -> None:
    started = time.monotonic()
    summary = run_scenarios(
        tmp_path,
        scale_settings=scale.ScaleSettings(
            models=("asyncio", "fork_reap"),
            counts=(10, 20),
            settle_s=0.2,
            sample=2,
            fresh=1,
            fork_cap=10,
        ),
        slow_settings=slowclients.SlowSettings(
            models=("asyncio",), slow=1, users=2, duration_s=0.5, warmup_s=0.1
        ),
    )
    # one session served both: its registry is gone, nothing of the generator was started
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "scale.json",
        "scale.png",
        "slowclients.json",
        "slowclients.png",
    ]
    for name in ("scale", "slowclients"):
        document = json.loads((tmp_path / f"{name}.json").read_text())
        assert document["scenario"] == name and summary[name]["json"] == tmp_path / f"{name}.json"
        assert summary[name]["chart"].read_bytes()[:4] == b"\x89PNG"
    assert [row["model"] for row in summary["scale"]["summary"]] == ["asyncio", "fork_reap"]
    assert summary["scale"]["summary"][0]["held"] == 20
    assert summary["scale"]["notes"] == ["fork_reap: 20 capped to 10 by --fork-cap (process ids)"]
    assert [row["model"] for row in summary["slowclients"]["summary"]] == ["asyncio"]
    assert summary["elapsed_s"] <= time.monotonic() - started
    assert summary["elapsed_s"] >= 0.9 * (time.monotonic() - started)
