"""One lesson, run: the model started (launched, on a Session: registered, Ctrl-C turned into an
exception that every `finally` sees), the clients' bursts sent, and ten times a second its tree
sampled (bench.telemetry.sample_tree, here in the main thread: the counts drawn are the ones
judged, never a stale sample) and the counts drawn, until the load is done and has settled;
then the server stopped and reaped, and the verdict judged.

Bounded: the load by its plan (requests and the duration), every request by the timeout, the
server by --max-requests and --max-children, and the whole lesson by LESSON_BOUND_S.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from rich.console import Console
from rich.live import Live

from bench.catalog import SERVERS, Catalog
from bench.launch import ServerProcess, launched, servers_command
from bench.lessons import Lesson, Setup
from bench.lessons.judge import Measured, Verdict
from bench.lessons.load import Clients, Load
from bench.lessons.view import Reading, live_view
from bench.run import Session, server_reports
from bench.store import results_root
from bench.telemetry import Sample, port_activity, sample_tree

LESSON_BOUND_S = 30.0  # a lesson ends by itself within this, its server's start and stop included
STOP_ROOM_S = 4.0  # kept for stopping the server within the bound
TICK_S = 0.1  # the tree is sampled and the view drawn ten times a second (fresh: no thread)


@dataclass
class Ran:
    measured: Measured
    verdict: Verdict


def command(setup: Setup, load: Load) -> list[str]:
    """The model's command line, bounded: it exits after the planned connections (and a
    margin), and a fork model answers 503 rather than fork past them."""
    bound = str(load.total + 50)
    options = (*setup.options, *load.server_options, "--max-requests", bound)
    if setup.model.startswith("fork"):
        options += ("--max-children", bound)
    return servers_command(setup.model, setup.app, *options)


def workers(setup: Setup) -> int:
    options = list(setup.options)
    if setup.model != "prefork":
        return 1
    return int(options[options.index("--workers") + 1]) if "--workers" in options else 2


def run_lesson(
    lesson: Lesson,
    duration_s: float,
    timeout_s: float,
    neighbour: bool = False,
    console: Console | None = None,
) -> Ran:
    """Run `lesson` (on its neighbour's model with `neighbour`) and judge it."""
    setup = lesson.neighbour if neighbour else lesson.setup
    load = lesson.plan(duration_s)
    began = time.monotonic()
    console = console or Console()
    made_results = not results_root().exists()
    folder = session_folder()
    try:
        session = Session(folder, Catalog.standard(), quiet=True)
        with session.running():
            measured = measure(lesson, setup, load, session, timeout_s, console, began)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if made_results:  # results/, made for the registry alone: nothing else is there
            with contextlib.suppress(OSError):
                results_root().rmdir()
    measured.elapsed_s = time.monotonic() - began
    return Ran(measured, lesson.judge(measured))


def session_folder() -> Path:
    """Where the session keeps its registry of the processes it started: in results/, where
    the next run looks for what a crashed command left running; a temporary folder if results/
    cannot be written. Removed at the end."""
    folder = results_root() / f".lesson-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="lesson-"))
    return folder


def measure(
    lesson: Lesson,
    setup: Setup,
    load: Load,
    session: Session,
    timeout_s: float,
    console: Console,
    began: float,
) -> Measured:
    """Start the model, send the load, draw the counts until it has settled; stop the model."""
    rlimits = {resource.RLIMIT_NOFILE: (setup.nofile, setup.nofile)} if setup.nofile else {}
    spec = SERVERS[setup.model]
    with launched(
        command(setup, load),
        cpus=session.cpus_for(spec),
        rlimits=rlimits,
        registry=session.registry,
        what=f"lesson {lesson.name}: {setup.model}",
        timeout=10.0,
    ) as server:
        nofile = psutil.Process(server.pid).rlimit(resource.RLIMIT_NOFILE)[0]
        clients = Clients(server.port, load, timeout_s)
        deadline = began + LESSON_BOUND_S - STOP_ROOM_S
        samples: list[Sample] = []
        readings: list[Reading] = []
        try:
            with Live(console=console, auto_refresh=False, transient=False) as live:

                def draw(words: str) -> None:
                    sample = sample_tree(server.pid, began)
                    samples.extend([sample] if sample is not None else samples[-1:])
                    readings.append(reading(samples[-1], clients, server))
                    subtitle = f"{setup.model} (pid {server.pid}) · {words}"
                    view = live_view(
                        f"lesson {lesson.name}",
                        lesson.title,
                        subtitle,
                        readings,
                        nofile,
                        lesson.key,
                    )
                    live.update(view, refresh=True)

                draw("before the load")
                watch(clients.start(), load, deadline, draw)
        finally:
            clients.stop()
    return Measured(
        lesson.name,
        setup.model,
        load,
        samples,
        list(clients.outcomes),
        nofile,
        server_reports(server.said),
        0.0,
        workers(setup),
        clients.exchange,
        left_running(server),
    )


def left_running(server: ServerProcess) -> tuple[int, ...]:
    """The server's processes still there after launched() stopped and reaped its group (none
    unless something escaped both its process group and its cgroup)."""
    left = set(server.left_running)
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) == server.pid:
                left.add(process.pid)
    return tuple(sorted(left))


def watch(clients: Clients, load: Load, deadline: float, draw: Callable[[str], None]) -> None:
    """Draw every tick while the load runs (at most until `deadline`), then for its settle."""
    started = time.monotonic()
    while not clients.done and time.monotonic() < deadline:
        draw(f"{clients.sent} of {load.total} sent · {time.monotonic() - started:.1f} s")
        time.sleep(TICK_S)
    clients.stop()
    settle_end = min(time.monotonic() + load.settle_s, deadline)
    while time.monotonic() < settle_end:
        draw(f"done: do the counts stay? · {time.monotonic() - started:.1f} s")
        time.sleep(TICK_S)
    draw(f"done · {time.monotonic() - started:.1f} s")


def reading(sample: Sample, clients: Clients, server: ServerProcess) -> Reading:
    """The counts now: the tree's (`sample`, just taken), the kernel's accept queue, the
    clients', and the server's own count of accept() failures so far (it says it once a second
    at most)."""
    _, queued, _ = port_activity(server.port)
    outcomes = list(clients.outcomes)
    answered = sum(o.latency_s is not None for o in outcomes)
    failures = server_reports(server.output()).accept_failures_by_errno or {}
    return Reading(
        t=sample.t,
        zombies=sample.zombies,
        children=sample.children,
        parent_fds=sample.parent_fds,
        threads=sample.threads,
        waiting=len(clients.waiting),
        queued=queued,
        answered=answered,
        failed=len(outcomes) - answered,
        emfile=failures.get("EMFILE", 0),
        oldest_wait_s=clients.oldest_wait(),
    )
