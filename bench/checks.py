"""Model-expectation checks: what each cell's figures must satisfy if the measurement is right,
computed from run.json alone. A violation means the measurement or the model is not what it
claims, and the report lists it. Each check can fail (tests/test_stats.py makes each fail):

- Little's law: in a closed loop, throughput x mean latency = the requests in flight, which
  cannot exceed the users. (It cannot tell a saturated generator: the time an answer waits for
  the generator's CPU counts as latency, so in flight stays near the users either way; the
  generator's own CPU tells that, bench/load.py.)
- The window: a cell measured for the time it was asked (unless a leaking server's request cap
  stopped it early).
- The open loop: no more answers per second than were offered.
- `sleep` sleeps after every response, so its throughput is at most 1 / sleep.
- The one-at-a-time models (basic, iterative, sleep) never serve two requests at once: on a
  workload with a known minimum service time (io waits 10 ms), throughput is at most its inverse.
- `fork_reap` reaps every child: zero zombies at the end of every cell.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.catalog import SERVERS
from bench.record import CellRecord, RunRecord

LITTLE_HIGH = 1.05  # measured in flight / users: above is impossible (5 % for the window's edges)
SLACK = 1.05  # throughput bounds allow 5 % for the window's edges
WINDOW_SLACK = 0.02  # the measured window may differ from the asked one by this share
SERVICE_FLOOR_S = {"io": 0.010}  # the least a request of the workload keeps its server busy


# Checks of the measurement itself, not of a model: near-identities that catch a broken
# harness (a window cut short, more in flight than users), not a server that is not what it
# claims. They are counted apart from the model checks, under their own name.
CONSISTENCY = frozenset({"little's law", "window as asked"})


@dataclass
class Check:
    key: str  # the cell's key
    name: str
    passed: bool
    detail: str

    @property
    def consistency(self) -> bool:
        """A check of the measurement's consistency, not of the model's expectation."""
        return self.name in CONSISTENCY


def check_cell(cell: CellRecord, duration_s: float | None = None) -> list[Check]:
    """The checks that apply to one measured cell (`duration_s`: the window asked for)."""
    load = cell.load
    if not cell.ok or load is None or not load.timed:
        return []
    key, throughput = cell.key, load.throughput
    checks = []
    mean = load.latency_us.mean
    if not cell.rate and mean is not None and not cell.request_cap:
        in_flight = throughput * mean / 1e6
        checks.append(
            Check(
                key,
                "little's law",
                in_flight <= LITTLE_HIGH * cell.users,
                f"throughput x mean latency = {in_flight:.2f} requests in flight for "
                f"{cell.users} users",
            )
        )
    if duration_s and not cell.request_cap:
        checks.append(
            Check(
                key,
                "window as asked",
                abs(load.window_s - duration_s) <= WINDOW_SLACK * duration_s,
                f"measured over {load.window_s:.3f} s of the {duration_s:g} s asked",
            )
        )
    if cell.rate:
        offered = load.offered_rate or cell.rate
        checks.append(
            Check(
                key,
                "no more than offered",
                throughput <= offered * SLACK,
                f"{throughput:,.1f} answers/s for {offered:,.1f} offered",
            )
        )
    pause = cell.option("--sleep")
    floor = SERVICE_FLOOR_S.get(cell.workload, 0.0) + pause
    spec = SERVERS.get(cell.server)
    if spec is not None and spec.one_at_a_time and floor:
        bound = 1 / floor
        checks.append(
            Check(
                key,
                "at most 1 / sleep" if pause else "one at a time",
                throughput <= bound * SLACK,
                f"{throughput:,.1f} req/s against at most {bound:,.1f} (1 / {floor * 1000:g} ms "
                f"of {'sleep and ' if pause else ''}service per request, one at a time)",
            )
        )
    if cell.server == "fork_reap" and cell.leak:
        zombies = cell.leak.zombies_after
        checks.append(
            Check(key, "zero zombies", zombies == 0, f"{zombies} zombies at the end of the cell")
        )
    return checks


def run_checks(run: RunRecord) -> list[Check]:
    """Every check of every cell of the run."""
    duration = run.settings.duration_s
    return [check for cell in run.cells for check in check_cell(cell, duration)]
