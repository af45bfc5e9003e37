"""Guided lessons: `python -m bench lesson NAME` runs one model of the seed's progression under
the load that shows its lesson, with the counts live in the terminal, then the verdict from what
it measured and the lines of code that cause it.

Each lesson names its model as it runs (a Setup), the load that shows it, planned from the
lesson's duration (bench/lessons/load.py), the judge that reads the measurement
(bench/lessons/judge.py), the counts that tell it, and its neighbour: the model one idea away,
whose diff is shown, and on which the same load gives the other verdict (`--neighbour`). The
table sits on top of the harness: it starts servers with launch.launched() on a Session, and
nothing in the harness's core imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.catalog import PLAIN, PLAIN_ASGI
from bench.lessons import judge
from bench.lessons.judge import Measured, Verdict
from bench.lessons.load import Load

FORK_BOUND = ("--backlog", "1024")  # a burst of children queues whole, as the catalog's rows
NOFILE = 64  # fork_leak's descriptor limit: EMFILE after some 60 connections, in seconds
VIEW_MS = 250  # a view at least this long: the telemetry's samples (10 a second) see it run


@dataclass(frozen=True)
class Setup:
    """A model as the lesson runs it: its application (None: basic, which has none), options
    and descriptor limit."""

    model: str
    app: str | None = PLAIN
    options: tuple[str, ...] = ()
    nofile: int | None = None


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str  # what it shows, in one line
    setup: Setup
    neighbour: Setup  # one idea away: the fix, or the model it fixes
    plan: Callable[[float], Load]  # the load, from the lesson's duration
    judge: Callable[[Measured], Verdict]
    key: tuple[str, ...]  # the live rows that tell the lesson
    diff: tuple[str, str]  # the two models whose diff shows the idea, in the order it came
    caption: str  # what the diff shows


def burst_on_view(clients: int, awaits: bool = False) -> Callable[[float], Load]:
    """One burst of `clients` on /sleep/: a view that takes long enough that, one at a time,
    the burst lasts half the lesson's duration."""

    def plan(duration_s: float) -> Load:
        view_ms = max(VIEW_MS, round(500 * duration_s / clients))
        one_by_one = clients * view_ms / 1000
        return Load(
            f"/sleep/?ms={view_ms}", clients, view_s=view_ms / 1000, longest_wait_s=one_by_one
        )

    return plan


def closed_loop_on_view(clients: int) -> Callable[[float], Load]:
    """`clients` asking again and again, each on a new connection, for a view of VIEW_MS, for
    60 % of the duration (2 s at least): an event loop that accepts a whole burst at once
    cannot keep the other workers idle for long."""

    def plan(duration_s: float) -> Load:
        repeat, view = max(2.0, 0.6 * duration_s), VIEW_MS / 1000
        return Load(
            f"/sleep/?ms={VIEW_MS}",
            clients,
            repeat_s=repeat,
            view_s=view,
            longest_wait_s=clients * view,
        )

    return plan


def burst_behind_sleep(clients: int) -> Callable[[float], Load]:
    """One burst of `clients` on /hello/, the server sleeping after each answer: the sleeps,
    one at a time, last half the lesson's duration."""

    def plan(duration_s: float) -> Load:
        pause = round(0.5 * duration_s / clients, 3)
        return Load(
            clients=clients,
            pause_s=pause,
            longest_wait_s=clients * pause,
            server_options=("--sleep", f"{pause:g}"),
        )

    return plan


def bursts(
    clients: int, count: int, child_sleep: float = 0.0, eof_wait: float = 0.0
) -> Callable[[float], Load]:
    """`count` bursts of `clients` connections on /hello/, spread over the duration; each
    forked child sleeps `child_sleep` after its answer (alive, then ended, in sight)."""

    def plan(duration_s: float) -> Load:
        return Load(
            clients=clients,
            bursts=count,
            every_s=duration_s / count,
            eof_wait_s=eof_wait,
            pause_s=child_sleep,
            settle_s=1.0 + child_sleep,
            server_options=("--sleep", f"{child_sleep:g}") if child_sleep else (),
        )

    return plan


UVLOOP = ("--loop", "uvloop")
LESSONS: dict[str, Lesson] = {
    lesson.name: lesson
    for lesson in (
        Lesson(
            "socket",
            "accept, read, answer, close: a socket loop serves HTTP (and what a client sees)",
            Setup("basic", None),
            Setup("iterative"),
            bursts(10, 3, eof_wait=0.5),
            judge.wire,
            ("answered", "failed"),
            ("iterative", "basic"),
            "basic's own loop: accept, read one request, send fixed bytes, close (where "
            "iterative hands each connection to the protocol core and the application)",
        ),
        Lesson(
            "iterative",
            "one connection at a time: clients who ask at once are answered one after another",
            Setup("iterative"),
            Setup("threaded"),
            burst_on_view(8),
            judge.one_at_a_time,
            ("waiting", "queued", "in_progress"),
            ("iterative", "threaded"),
            "the line that serves each connection before accepting the next, and its fix",
        ),
        Lesson(
            "sleep",
            "head-of-line blocking: a sleep after each answer holds every client behind it",
            Setup("sleep"),
            Setup("iterative"),
            burst_behind_sleep(6),
            judge.head_of_line,
            ("waiting", "queued"),
            ("iterative", "sleep"),
            "the one line that holds every client",
        ),
        Lesson(
            "fork",
            "fork() per connection and nothing reaps: every finished child stays a zombie",
            Setup("fork"),
            Setup("fork_reap", options=FORK_BOUND),
            bursts(40, 5, child_sleep=0.5),
            judge.zombies,
            ("zombies", "children"),
            ("fork", "fork_reap"),
            "what fork lacks: the reaping its neighbour fork_reap adds",
        ),
        Lesson(
            "fork_leak",
            "the parent keeps every client socket: descriptors climb until accept() fails (EMFILE)",
            Setup("fork_leak", nofile=NOFILE),
            Setup("fork", nofile=NOFILE),
            bursts(16, 8, eof_wait=0.3),
            judge.emfile,
            ("parent_fds", "emfile", "waiting"),
            ("fork", "fork_leak"),
            "the one line that keeps every client socket open in the parent",
        ),
        Lesson(
            "fork_wait",
            "one wait() per SIGCHLD: signals that arrive together coalesce, zombies are left",
            Setup("fork_wait", options=FORK_BOUND),
            Setup("fork_reap", options=FORK_BOUND),
            bursts(50, 4),
            judge.coalesced,
            ("zombies",),
            ("fork_wait", "fork_reap"),
            "one wait() per signal, and the loop that replaces it",
        ),
        Lesson(
            "fork_reap",
            "a waitpid(WNOHANG) loop per SIGCHLD: no zombie, however bursty the load",
            Setup("fork_reap", options=FORK_BOUND),
            Setup("fork_wait", options=FORK_BOUND),
            bursts(50, 4, child_sleep=0.2),
            judge.reaped,
            ("zombies", "children"),
            ("fork_wait", "fork_reap"),
            "the loop that reaps every ended child, where fork_wait reaped one per signal",
        ),
        Lesson(
            "threaded",
            "a thread per connection: blocking views overlap",
            Setup("threaded"),
            Setup("iterative"),
            burst_on_view(10),
            judge.overlapping,
            ("threads", "in_progress"),
            ("iterative", "threaded"),
            "a thread per connection instead of serving it in the accept loop",
        ),
        Lesson(
            "asyncio",
            "one event loop on one thread: views that await overlap, no thread each",
            Setup("asyncio", PLAIN_ASGI, UVLOOP),
            Setup("threaded"),
            burst_on_view(10),
            judge.one_loop,
            ("threads", "in_progress"),
            ("threaded", "asyncio"),
            "no thread per connection: the event loop (servers/aio.py) serves them all",
        ),
        Lesson(
            "prefork",
            "N pre-forked workers: N blocking views at once, and a supervisor that reaps them",
            Setup("prefork", PLAIN, (*UVLOOP, "--workers", "2")),
            Setup("asyncio", PLAIN, UVLOOP),
            closed_loop_on_view(8),
            judge.workers,
            ("children", "in_progress", "zombies"),
            ("asyncio", "prefork"),
            "one event loop becomes N, forked once and supervised",
        ),
    )
}
