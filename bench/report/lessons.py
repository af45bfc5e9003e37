"""The seed programs' lessons, judged from one run's data: a pure function of run.json.

Each lesson (shared/SEED.md) names what its model must show, and a test of the run's cells
that shows it or does not; the verdict is "shown", or "not shown" with the reason the data
gives, or with "no cell" when the run did not measure that model there. No sentence here is
claimed without its figure: a run in which every lesson fails reads "not shown" throughout.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from bench.record import CellRecord, RunRecord
from bench.report.select import failed, ok_cells, top_cells

SLACK = 1.05  # a bound may be exceeded by this much: the window's edges
IO_S = 0.010  # the io workload's wait (helloworld: /sleep/?ms=10)
WORKERS_DEFAULT = 1


@dataclass(frozen=True)
class Lesson:
    program: str  # the seed's program
    model: str  # our server
    lesson: str  # what it teaches
    evidence: str  # what this run measured, in one line
    shown: bool | None  # None: the run has no cell that could show it

    @property
    def verdict(self) -> str:
        if self.shown is None:
            return "not shown: not measured in this run"
        return "shown" if self.shown else f"not shown: {self.evidence}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def throughput(cells: list[CellRecord]) -> float:
    return median([c.load.throughput for c in cells if c.load])


def p50_ms(cells: list[CellRecord]) -> float:
    return median([(c.load.latency_us.p50 or 0) / 1000 for c in cells if c.load])


def lost(count: int) -> str:
    return f"; {count} cell(s) failed" if count else ""


def none_measured(
    program: str, model: str, what: str, workload: str, down: int, whose: str = ""
) -> Lesson:
    """A lesson without a cell to judge: not measured, or not shown where its cells failed
    (`workload` empty: the model's cells on any workload)."""
    where = f"{workload} " if workload else ""
    if down:
        return Lesson(program, model, what, f"its {down} {where}cell(s) failed", False)
    return Lesson(program, model, what, f"no {where}cell of {whose or model}", None)


# the lessons, one function each -------------------------------------------------------------


def basic(run: RunRecord) -> Lesson:
    what = "accept, read, answer, close: a socket loop serves HTTP"
    cells, down = ok_cells(run, "basic"), failed(run, "basic")
    if not cells and not down:
        return Lesson("webserver1", "basic", what, "no cell of basic", None)
    answered = sum(c.load.requests for c in cells if c.load)
    wrong = sum(sum(c.load.failures.values()) for c in cells if c.load)
    return Lesson(
        "webserver1",
        "basic",
        what,
        f"{answered:,} requests answered right, {wrong:,} wrongly or not at all" + lost(down),
        answered > 0 and wrong == 0 and not down,
    )


def wsgi(run: RunRecord) -> Lesson:
    what = "any framework runs on a server that speaks PEP 3333 (Django here)"
    cells = [c for c in run.cells if c.workload == "django" and not c.rate]
    if not cells:
        return Lesson("wsgiserver", "every model", what, "no django cell", None)
    servers = {c.server for c in cells}
    served = sorted(  # every cell of the server answered right, not just one: a failed one not
        server
        for server in servers
        if all(
            c.ok and c.load and c.load.requests and not c.load.failures
            for c in cells
            if c.server == server
        )
    )
    return Lesson(
        "wsgiserver",
        "every model",
        what,
        f"Django answered right on {len(served)} of {len(servers)} servers"
        + (f" ({', '.join(served)})" if served else ""),
        len(served) == len(servers),
    )


def one_at_a_time(run: RunRecord) -> Lesson:
    what = "one connection at a time: at most 1 / service time, each client waits for the others"
    cells, down = top_cells(run, "iterative", "io"), failed(run, "iterative", "io")
    if not cells:
        return none_measured("iterativeserver", "iterative", what, "io", down)
    rate, wait, users = throughput(cells), p50_ms(cells), cells[0].users
    bound, queue = 1 / IO_S, 0.8 * users * IO_S * 1000
    most, counted = in_progress(cells)
    return Lesson(
        "iterativeserver",
        "iterative",
        what,
        f"io at {users} users: {rate:,.1f} req/s (at most {bound:,.0f} one at a time), "
        f"p50 {wait:,.0f} ms (waiting behind {users - 1} others: at least {queue:,.0f} ms); "
        + counted
        + lost(down),
        rate <= bound * SLACK and wait >= queue and most == 1 and not down,
    )


def in_progress(cells: list[CellRecord]) -> tuple[int | None, str]:
    """The most requests the server itself had in progress at once over these cells (its own
    count), and the words for it: one at a time is its own count, not latency alone (a
    concurrent server that is slow would wait as long)."""
    counts = [c.server_reports.most_in_progress for c in cells]
    known = [count for count in counts if count is not None]
    if len(known) < len(counts) or not known:
        return None, "the server did not count its requests in progress"
    most = max(known)
    return most, f"at most {most} request(s) in progress at once (the server's own count)"


def head_of_line(run: RunRecord) -> Lesson:
    what = "a blocking sleep after each answer holds every client behind it"
    cells, down = top_cells(run, "sleep", "hello"), failed(run, "sleep", "hello")
    if not cells:
        return none_measured("sleepserver", "sleep", what, "hello", down)
    pause, users = cells[0].option("--sleep"), cells[0].users
    rate, wait = throughput(cells), p50_ms(cells)
    if not pause:
        return Lesson("sleepserver", "sleep", what, "the server ran without --sleep", False)
    held = 0.8 * (users - 1) * pause * 1000
    most, counted = in_progress(cells)
    return Lesson(
        "sleepserver",
        "sleep",
        what,
        f"hello at {users} users: {rate:,.1f} req/s (at most {1 / pause:,.0f}, one per "
        f"{pause * 1000:g} ms sleep), p50 {wait:,.0f} ms (the others' sleeps: at least "
        f"{held:,.0f} ms); {counted}" + lost(down),
        rate <= SLACK / pause and wait >= held and most == 1 and not down,
    )


def plural(count: int, noun: str) -> str:
    """'1 user', '16 users'."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def forked(run: RunRecord, server: str) -> tuple[CellRecord, int, int] | None:
    """A fork model's cell with the most users (the burstiest; the first of them), its zombies
    at the end, and the children it forked: one per request the generator sent (each a
    connection) and one for the harness's verification."""
    cells = [c for c in ok_cells(run, server) if c.leak and c.load]
    if not cells:
        return None
    first = max(cells, key=lambda c: c.users)
    assert first.leak and first.load
    return first, first.leak.zombies_after or 0, first.load.sent + 1


def zombies(run: RunRecord) -> Lesson:
    what = "fork() per connection, nothing reaps: one zombie per connection served"
    found = forked(run, "fork")
    if found is None:
        return none_measured("concurrentserver", "fork", what, "", failed(run, "fork"))
    cell, left, served = found
    users = cell.users
    return Lesson(
        "concurrentserver",
        "fork",
        what,
        f"{left:,} zombies after {served:,} connections ({cell.workload}, {plural(users, 'user')}; "
        f"the last {users} may not have been accepted when the load stopped)"
        + lost(down := failed(run, "fork")),
        served - users <= left <= served and not down,
    )


def emfile(run: RunRecord) -> Lesson:
    what = "the parent keeps every client socket: descriptors grow until accept() fails (EMFILE)"
    cells = [c for c in run.cells if c.server == "fork_leak" and c.load]
    if not cells:
        return none_measured("concurrentserver2", "fork_leak", what, "", failed(run, "fork_leak"))
    cell = cells[0]
    failures = cell.server_reports.accept_failures_by_errno or {}
    peak = cell.leak.peak_parent_fds if cell.leak else None
    return Lesson(
        "concurrentserver2",
        "fork_leak",
        what,
        f"accept() failed {failures.get('EMFILE', 0):,} times with EMFILE (the server's own "
        f"count), its descriptors peaking at {peak if peak is not None else '?'}",
        failures.get("EMFILE", 0) > 0,
    )


def coalesced(run: RunRecord) -> Lesson:
    what = "one wait() per SIGCHLD: signals that coalesce in a burst leave zombies"
    found = forked(run, "fork_wait")
    if found is None:
        return none_measured("concurrentserver3", "fork_wait", what, "", failed(run, "fork_wait"))
    cell, left, served = found
    # some reaped: fewer than a server that reaps nothing leaves on the same load (fork's
    # lesson: all but the last `users` connections, which may not have been accepted)
    fewest_unreaped = served - cell.users
    return Lesson(
        "concurrentserver3",
        "fork_wait",
        what,
        f"{left:,} zombies left of {served:,} children ({plural(cell.users, 'user')} at once; "
        f"reaping none would leave at least {fewest_unreaped:,})"
        + lost(down := failed(run, "fork_wait")),
        0 < left < fewest_unreaped and not down,
    )


def reaped(run: RunRecord) -> Lesson:
    what = "a waitpid(WNOHANG) loop per SIGCHLD: no zombie, however bursty the load"
    cells = [c for c in ok_cells(run, "fork_reap") if c.leak]
    if not cells:
        return none_measured(
            "concurrentserver_final", "fork_reap", what, "", failed(run, "fork_reap")
        )
    left = [c.leak.zombies_after or 0 for c in cells if c.leak]
    # no zombie means something only where children were forked: seen alive in its samples
    seen = sum(max(c.telemetry.series.children or [0]) > 0 for c in cells if c.telemetry)
    down = failed(run, "fork_reap")
    return Lesson(
        "concurrentserver_final",
        "fork_reap",
        what,
        f"{max(left)} zombies at most at the end of its {len(cells)} cells; forked children "
        f"seen alive in {seen} of them" + lost(down),
        max(left) == 0 and seen > 0 and not down,
    )


def event_loop(run: RunRecord) -> Lesson:
    what = "one event loop: a blocking view stalls every client; the same view awaiting does not"
    blocking, awaiting = top_cells(run, "asyncio", "io"), top_cells(run, "asyncio-asgi", "io")
    down = failed(run, "asyncio", "io") + failed(run, "asyncio-asgi", "io")
    if not blocking or not awaiting:
        return none_measured("the design card", "asyncio", what, "io", down, "asyncio and ASGI")
    inline, asgi = throughput(blocking), throughput(awaiting)
    return Lesson(
        "the design card",
        "asyncio",
        what,
        f"io at {blocking[0].users} users: {inline:,.1f} req/s served inline (at most "
        f"{1 / IO_S:,.0f}), {asgi:,.1f} awaiting: {asgi / inline if inline else 0:,.1f}x"
        + lost(down),
        inline <= SLACK / IO_S and asgi >= 5 * inline and not down,
    )


def threads(run: RunRecord) -> Lesson:
    what = "a thread per connection: blocking views overlap"
    cells, down = top_cells(run, "threaded", "io"), failed(run, "threaded", "io")
    if not cells:
        return none_measured("beyond the seed", "threaded", what, "io", down)
    rate, users = throughput(cells), cells[0].users
    return Lesson(
        "beyond the seed",
        "threaded",
        what,
        f"io at {users} users: {rate:,.0f} req/s, {rate * IO_S:,.1f} views at once on average"
        + lost(down),
        rate * IO_S >= 5 and not down,
    )


def workers(run: RunRecord) -> Lesson:
    what = "N pre-forked event loops: N blocking views at once, not more"
    cells, down = top_cells(run, "prefork", "io"), failed(run, "prefork", "io")
    if not cells:
        return none_measured("beyond the seed", "prefork", what, "io", down)
    count = cells[0].option("--workers", WORKERS_DEFAULT)
    rate = throughput(cells)
    return Lesson(
        "beyond the seed",
        "prefork",
        what,
        f"io at {cells[0].users} users, {count:g} workers: {rate:,.1f} req/s (at most "
        f"{count / IO_S:,.0f}), {rate * IO_S:,.2f} views at once" + lost(down),
        1.5 <= rate * IO_S <= count * SLACK and not down,
    )


LESSONS: tuple[Callable[[RunRecord], Lesson], ...] = (
    basic,
    wsgi,
    one_at_a_time,
    head_of_line,
    zombies,
    emfile,
    coalesced,
    reaped,
    event_loop,
    threads,
    workers,
)


def judge(run: RunRecord) -> list[Lesson]:
    """Every lesson, judged from the run."""
    return [lesson(run) for lesson in LESSONS]


ALSO = {"asyncio": ("asyncio-asgi",)}  # rows of the catalog that share their model's lesson


def by_model(lessons: list[Lesson]) -> dict[str, Lesson]:
    """The lesson that explains each server row (the first one naming its model)."""
    found: dict[str, Lesson] = {}
    for lesson in lessons:
        for name in (lesson.model, *ALSO.get(lesson.model, ())):
            found.setdefault(name, lesson)
    return found
