"""The scenarios as one step of a benchmark run: C10K (bench/scenarios/scale.py) and slow clients
(bench/scenarios/slowclients.py) for every model, into the run's folder, with their charts.

`run_scenarios(folder)` is what the harness's full profile calls; `quick=True` is a smaller
version (one count of 100 connections, 1.5 s phases) for a smoke run.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from bench.catalog import Catalog
from bench.plan import Plan, Settings
from bench.run import Session
from bench.run.estimate import MICRO_S, report_s
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
    from bench.report.scenario_charts import draw  # matplotlib: only once there is a chart

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


def after_cells(plan: Plan, micro: bool = True) -> tuple[tuple[str, float], ...]:
    """What `python -m bench run` does once its cells are measured (bench/__main__.py), by name
    and planned seconds, for the run's estimate: the micro-benchmarks of a default or full run
    (unless --no-micro), the scenarios of a profile that has them, the report."""
    settings, after = plan.settings, []
    if micro and settings.profile in ("default", "full"):
        after.append(("micro-benchmarks", MICRO_S))
    if settings.scenarios:
        after += scenario_steps(settings, plan.catalog)
    return (*after, ("report", report_s(len(plan.cells))))


CONFORMANCE_OURS_S, CONFORMANCE_PEER_S = 4.0, 10.0  # the corpus over sockets, start to stop


def scenario_steps(settings: Settings, catalog: Catalog) -> list[tuple[str, float]]:
    """The planned seconds of the scenarios a profile runs after its cells, as
    bench/__main__.py `run_scenario_steps` chooses them for the run's servers: the capacity
    sweep (every rate: at most), C10K and slow clients."""
    from bench.scenarios.capacity import planned, profile_sweep  # matplotlib: only when asked

    quick = settings.profile == "quick"
    rows = [catalog.servers[name] for name in settings.servers]
    swept = [spec.name for spec in rows if not spec.leaking and spec.kind != "remote"]
    models = tuple(dict.fromkeys(spec.model for spec in rows if spec.model))
    steps = []
    if swept:
        sweep = profile_sweep(swept, quick, settings.workloads[0])
        steps.append(("capacity (at most)", sum(map(sum, planned(sweep)))))
    if models:
        scaled = replace(QUICK_SCALE if quick else scale.ScaleSettings(), models=models)
        slow = replace(QUICK_SLOW if quick else slowclients.SlowSettings(), models=models)
        steps.append(("C10K (at most)", sum(map(sum, scale.planned(scaled)))))
        steps.append(("slow clients", sum(slowclients.planned(slow))))
    from bench.scenarios import conformance

    ours = [n for n in settings.servers if n in conformance.OURS]
    peers = [n for n in settings.servers if n in conformance.PEERS]
    if (ours or peers) and not quick:  # measured here: 3.5 to 3.8 s a model, 7.6 to 17 s a peer
        steps.append(
            ("conformance", CONFORMANCE_OURS_S * len(ours) + CONFORMANCE_PEER_S * len(peers))
        )
    return steps
