"""Which cells of a run a chart, a table, a lesson or the answer reads: one set of queries, so
that "the cells that ran to the end" means the same everywhere."""

from __future__ import annotations

from bench.catalog import SERVERS
from bench.record import CellRecord, RunRecord
from bench.stats import Summary, summarise


def ok_cells(
    run: RunRecord, server: str | None = None, workload: str | None = None
) -> list[CellRecord]:
    """The closed-loop cells that ran to the end (of one server, on one workload, if given);
    open-loop cells have a table and a chart of their own."""
    return [
        c
        for c in run.cells
        if c.ok
        and not c.rate
        and (server is None or c.server == server)
        and (workload is None or c.workload == workload)
    ]


def open_cells(run: RunRecord) -> list[CellRecord]:
    """The open-loop cells that ran to the end."""
    return [c for c in run.cells if c.ok and c.rate]


def top_cells(run: RunRecord, server: str, workload: str) -> list[CellRecord]:
    """The server's cells of one load only: its most users, keep-alive where it ran it (a
    lesson's bound depends on the users, so its figures must not mix levels)."""
    cells = ok_cells(run, server, workload)
    if not cells:
        return []
    mode = "keepalive" if any(c.mode == "keepalive" for c in cells) else cells[0].mode
    users = max(c.users for c in cells if c.mode == mode)
    return [c for c in cells if c.mode == mode and c.users == users]


def failed(run: RunRecord, server: str, workload: str | None = None) -> int:
    """How many of the server's cells failed (on one workload if given)."""
    return sum(
        c.server == server and c.status != "ok" and (workload is None or c.workload == workload)
        for c in run.cells
    )


def servers_in(run: RunRecord) -> list[str]:
    """Servers in catalogue order (the legend order everywhere)."""
    seen = {c.server for c in run.cells}
    return [s for s in SERVERS if s in seen] + sorted(seen - set(SERVERS))


def closed_summaries(run: RunRecord) -> dict[tuple, Summary]:
    """Medians and intervals over repetitions, by (server, workload, users, mode)."""
    return {(s.server, s.workload, s.users, s.mode): s for s in summarise(run.cells) if not s.rate}


def top_levels(run: RunRecord) -> list[tuple[str, int]]:
    """(workload, users) of each workload's highest concurrency, keep-alive, closed loop."""
    top: dict[str, int] = {}
    for cell in ok_cells(run):
        if cell.mode == "keepalive":
            top[cell.workload] = max(top.get(cell.workload, 0), cell.users)
    return list(top.items())


def telemetry_cells(run: RunRecord) -> list[CellRecord]:
    """One cell per server to show over time: the most concurrent, first workload, first rep."""
    chosen: dict[str, CellRecord] = {}
    for cell in run.cells:
        if not cell.telemetry or cell.rate:
            continue
        best = chosen.get(cell.server)
        if best is None or (cell.workload == best.workload and cell.users > best.users):
            chosen[cell.server] = cell
    return [chosen[s] for s in servers_in(run) if s in chosen]
