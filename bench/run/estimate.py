"""How long a run will take, from its plan alone: each cell's own durations (warm-up, the
measured window, settle), what starting, checking and stopping a server costs, wrk where a cell
is likely to call it, the load generator's start and its ceiling, the machine's speed probed
between rounds. The fixed costs are calibrated on results/reference/run.json (a default run,
136 cells in 7 min 47 s on 2 cores), from the time between one cell's start and the next:

    our servers' cells           2.68 s on average for 2.0 s planned   -> CELL_FIXED_S 0.6
    the peers' (uvicorn, gunicorn) 2.92 s                              -> PEER_START_S 0.35
    a cell wrk measured again    4.64 s: + wrk's whole seconds (2) + 0.1  -> WRK_FIXED_S

The estimate is a plan's, not a promise: the countdown (bench/run/console.py) corrects it as
the cells are measured."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.catalog import ServerSpec
from bench.plan import Cell, Plan, Settings
from bench.wrk import wrk_path

CELL_FIXED_S = 0.6  # start, verify, stop and reap one of our servers; the generator's own cost
SERVER_START_S = 0.3  # start, verify, stop and reap one of our servers, no locust (wrk alone)
PEER_START_S = 0.35  # a peer's start and steadying, over ours (uvicorn 0.3, gunicorn 0.5)
WRK_FIXED_S = 0.1  # wrk's start, over its measured whole seconds
GENERATOR_START_S = 1.0  # the load generator's processes ready (importing locust and gevent)
PROBE_S = 0.05  # the machine's speed, probed before the cells, between rounds and after
MICRO_S = 6.0  # the micro-benchmarks after a default or full run (pytest-benchmark)
# the charts, the HTML report and the answer on the terminal: 2 s, and a little more per cell
# (`python -m bench report` on the reference's 136 cells: 4.5 s on a quiet machine)
REPORT_FIXED_S, REPORT_PER_CELL_S = 2.0, 0.02
# where a fast server outruns the load generator here, so the cell calls wrk as well: the plain
# hello (the reference run: 7 of 10 servers on hello were generator-bound, none on django or io)
WRK_LIKELY_WORKLOADS = ("hello",)
NEVER_BOUND_MODELS = ("sleep",)  # it sleeps after every response: never faster than locust


@dataclass(frozen=True)
class Estimate:
    """A run's planned seconds, part by part."""

    generator_s: float  # the load generator's start
    ceiling_s: float  # the generator's ceiling, per connection mode measured
    ceilings: int
    probes_s: float  # the machine's speed, every time it is probed
    cells_s: tuple[float, ...]  # each cell's, in the plan's order

    def parts(self, after: tuple[tuple[str, float], ...] = ()) -> list[tuple[str, float]]:
        """(name, seconds) for the estimate's line: the start, the cells, what comes after."""
        start = self.generator_s + self.ceiling_s * self.ceilings
        return [("start-up", start), ("cells", sum(self.cells_s) + self.probes_s), *after]

    @property
    def total_s(self) -> float:
        return sum(seconds for _, seconds in self.parts())


def wrk_likely(settings: Settings, cell: Cell, spec: ServerSpec, installed: bool) -> bool:
    """Whether the cell will be measured by wrk too (bench/run/cell.py `measure`): every
    closed-loop cell of a server that does not leak with --crosscheck; without it, the cells
    likely to be generator-bound."""
    if not installed or cell.rate or spec.leaking or spec.kind == "remote":
        return False
    if settings.crosscheck:
        return True
    return (
        settings.wrk_bound_cells
        and cell.workload in WRK_LIKELY_WORKLOADS
        and spec.model not in NEVER_BOUND_MODELS
    )


def cell_s(settings: Settings, cell: Cell, spec: ServerSpec, wrk: bool) -> float:
    """One cell's planned seconds: its warm-up, window and settle, a server's start and stop,
    and wrk's window where it runs."""
    seconds = settings.warmup_s + settings.duration_s + settings.settle_s + CELL_FIXED_S
    if spec.kind in ("peer", "added"):
        seconds += PEER_START_S
    if wrk:
        seconds += math.ceil(settings.duration_s) + WRK_FIXED_S
    return seconds


def estimate(plan: Plan, wrk_installed: bool | None = None) -> Estimate:
    """The plan's length in seconds, part by part (wrk_installed: None looks for wrk)."""
    settings, servers = plan.settings, plan.catalog.servers
    installed = wrk_path() is not None if wrk_installed is None else wrk_installed
    cells = tuple(
        cell_s(settings, cell, servers[cell.server], wrk)
        for cell in plan.cells
        for wrk in (wrk_likely(settings, cell, servers[cell.server], installed),)
    )
    rounds = len({cell.repetition for cell in plan.cells})
    return Estimate(
        generator_s=GENERATOR_START_S,
        ceiling_s=settings.warmup_s + settings.duration_s + CELL_FIXED_S,
        ceilings=len(settings.modes) if settings.ceiling else 0,
        probes_s=PROBE_S * (rounds + 1),
        cells_s=cells,
    )


def report_s(cells: int) -> float:
    """The report's planned seconds, for a run of `cells` cells."""
    return REPORT_FIXED_S + REPORT_PER_CELL_S * cells
