"""Model-expectation checks: what each cell's figures must satisfy if the measurement is right,
computed from run.json alone. A violation means the measurement or the model is not what it
claims, and the report says so beside the figure.

- Little's law: in a closed loop, throughput x mean latency = the requests in flight, at most
  the number of users. Above it is impossible; well below it, the users spent their time in
  the load generator, not waiting for the server.
- `sleep` sleeps after every response, so its throughput is at most 1 / sleep.
- The one-at-a-time models (basic, iterative, sleep) never serve two requests at once: on a
  workload with a known minimum service time (io waits 10 ms), throughput is at most its inverse.
- `fork_reap` reaps every child: zero zombies at the end of every cell.
- A generator-bound cell is never ranked (bench/stats.py leaves it out).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

LITTLE_LOW, LITTLE_HIGH = 0.6, 1.1  # measured in flight / users
SLACK = 1.05  # throughput bounds allow 5 % for the window's edges
ONE_AT_A_TIME = ("basic", "iterative", "sleep")
SERVICE_FLOOR_S = {"io": 0.010}  # the least a request of the workload keeps its server busy


@dataclass
class Check:
    key: str  # the cell's key
    name: str
    passed: bool
    detail: str


def sleep_of(cell: dict) -> float:
    """The --sleep a cell's server ran with (0 if none), read from its stored command."""
    command = cell.get("command") or []
    for flag, value in itertools.pairwise(command):
        if flag == "--sleep":
            return float(value)
    return 0.0


def check_cell(cell: dict) -> list[Check]:
    """The checks that apply to one measured cell."""
    load = cell.get("load")
    if cell["status"] != "ok" or not load or not load.get("latency_us"):
        return []
    key, throughput = cell["key"], load["throughput"]
    checks = []
    closed = not cell.get("rate")
    if closed and not load["failures"] and not cell.get("request_cap"):
        in_flight = throughput * load["latency_us"]["mean"] / 1e6
        ratio = in_flight / cell["users"]
        checks.append(
            Check(
                key,
                "little's law",
                LITTLE_LOW <= ratio <= LITTLE_HIGH,
                f"throughput x mean latency = {in_flight:.2f} requests in flight for "
                f"{cell['users']} users ({ratio:.0%})"
                + (
                    "; the rest of the time the users were in the load generator"
                    if ratio < LITTLE_LOW
                    else ""
                ),
            )
        )
    pause = sleep_of(cell)
    floor = SERVICE_FLOOR_S.get(cell["workload"], 0.0) + pause
    if cell["server"] in ONE_AT_A_TIME and floor:
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
    if cell["server"] == "fork_reap" and cell.get("leak"):
        zombies = cell["leak"].get("zombies_after")
        checks.append(
            Check(key, "zero zombies", zombies == 0, f"{zombies} zombies at the end of the cell")
        )
    return checks


def check_run(run: dict) -> list[Check]:
    return [check for cell in run["cells"] for check in check_cell(cell)]
