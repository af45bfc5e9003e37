"""The scenarios as one step of a benchmark run: C10K (bench/scenarios/scale.py) and slow clients
(bench/scenarios/slowclients.py) for every model, into the run's folder, with their charts.

`run_scenarios(folder)` is what the harness's full profile calls; `quick=True` is a smaller
version (one count of 100 connections, 1.5 s phases) for a smoke run.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.catalog import Catalog
from bench.report.scenario_charts import draw
from bench.run import Session
from bench.scenarios import scale, slowclients

QUICK_SCALE = scale.ScaleSettings(counts=(100,), settle_s=0.5, sample=8, fresh=4, fork_cap=64)
QUICK_SLOW = slowclients.SlowSettings(slow=4, users=4, duration_s=1.5, warmup_s=0.3)


def run_scenarios(
    folder: Path,
    quick: bool = False,
    *,
    scale_settings: scale.ScaleSettings | None = None,
    slow_settings: slowclients.SlowSettings | None = None,
) -> dict:
    """Run C10K then slow clients into `folder` (scale.json, slowclients.json, scale.png,
    slowclients.png) and return what a report needs: each scenario's files, one summary row per
    model, the caps applied, and the time taken. About 4.5 minutes on 2 cores (quick: 1.5). Both
    run on one session (catalog, CPUs, registry, terminal), each inside its `running()`."""
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    session = Session(folder, Catalog.standard())
    scale_settings = scale_settings or (QUICK_SCALE if quick else scale.ScaleSettings())
    slow_settings = slow_settings or (QUICK_SLOW if quick else slowclients.SlowSettings())
    connections = scale.run_scale(folder, scale_settings, session)
    slow = slowclients.run_slowclients(folder, slow_settings, session)
    charts = {path.name: path for path in draw(folder)}
    return {
        "scale": {
            "json": folder / "scale.json",
            "chart": charts.get("scale.png"),
            "summary": connections["summary"],
            "notes": connections["notes"],
        },
        "slowclients": {
            "json": folder / "slowclients.json",
            "chart": charts.get("slowclients.png"),
            "summary": slow["summary"],
        },
        "elapsed_s": time.monotonic() - started,
    }
