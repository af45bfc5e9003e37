"""Connection scaling (C10K): how many idle connections each model holds, what each costs, and
whether the server still answers while it holds them.

For every model and every count N (default 100, 1,000, 10,000) a fresh server is started (its
descriptor limit raised to the hard limit, a listen backlog of 4,096), warmed up and measured
idle; then a holder process (bench/scenarios/holder.py, so its memory is not counted) opens N idle
connections. With them held, the server's whole process tree is measured (RSS, USS, open
descriptors, processes, threads), its accepted sockets are counted, and so is the kernel's
listen queue; then one GET is timed on a sample of the held connections and on fresh ones.

What each model can do shows as it is: the one-at-a-time models (basic, iterative, sleep) accept
one connection and block on it, so the rest wait in the listen backlog, unserved, and requests
time out; the fork models fork a process per connection, so they are capped (--fork-cap, default
256: process ids are shared with the whole machine) and their process group is killed and reaped
after every step; counts are capped to the descriptors (and, for threaded, the process ids) this
machine has room for, and every cap is said.

    python -m bench scale [--models asyncio,threaded,...] [--counts 100,1000,10000]
        [--out DIR]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from bench import options
from bench.catalog import Catalog
from bench.launch import REPO_ROOT, LaunchError, ServerProcess, launched
from bench.report.scenario_tables import scale_table
from bench.run import Session
from bench.run.console import Counter
from bench.scenarios.cli import run_command
from bench.scenarios.rawclient import fresh_get
from bench.store import write_json
from bench.telemetry.lifetime import child_setup, pinned
from servers.models import MODELS

KINDS = {
    "basic": "one at a time",
    "iterative": "one at a time",
    "sleep": "one at a time",
    "fork": "a process per connection",
    "fork_leak": "a process per connection",
    "fork_wait": "a process per connection",
    "fork_reap": "a process per connection",
    "threaded": "a thread per connection",
    "asyncio": "one event loop",
    "prefork": "event loops in pre-forked workers",
}
FORK_MODELS = tuple(m for m in MODELS if KINDS[m] == "a process per connection")
DESCRIPTOR_RESERVE = 64  # descriptors a process needs besides the connections
THREAD_RESERVE = 4096  # process ids left free for everyone else on the machine
BACKLOG = 4096
WARM_UP_REQUESTS = 5
PER_CONNECTION_FROM = 10  # connections held: fewer, and a page or two of noise is the figure
MAX_COUNT = 1_000_000
# a step's planned seconds: the server's start, its warm-up GETs, the holder's start, the tree
# measured, the server stopped and reaped; then each connection opened (128 at a time), and for
# the fork models each child forked, measured and reaped (asyncio 2.6 s at 100, 3.2 s at 1,000;
# fork_reap 9.4 s at 100, 18.7 s at 256, on 2 busy cores)
STEP_FIXED_S = 1.5
OPEN_S = 0.0006
FORK_S = 0.04


@dataclass(frozen=True)
class ScaleSettings:
    models: tuple[str, ...] = MODELS
    counts: tuple[int, ...] = (100, 1000, 10000)
    settle_s: float = 1.0
    sample: int = 16  # held connections that each get one timed GET
    fresh: int = 8  # new connections that each get one timed GET while the rest are held
    timeout_s: float = 2.0  # for each connect and each timed GET
    fork_cap: int = 256  # connections at most for the fork-per-connection models


@dataclass
class Step:
    model: str
    connections: int  # asked for (after any cap)
    held: int = 0  # accepted by the server and still open when measured
    failure: str = ""  # the measurement itself went wrong (server or holder died)
    rss_mib: float = 0.0
    baseline_rss_mib: float = 0.0
    rss_per_connection_kib: float | None = None
    descriptors: int = 0
    processes: int = 0
    threads: int = 0
    open_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)  # connect failures by kind
    kind: str = ""
    capped_from: int | None = None  # the count asked before a cap lowered it
    opened: int = 0  # connects that completed (client's view)
    accepted: int = 0  # connections the server's processes hold a socket for
    in_backlog: int = 0  # the kernel's listen queue: connected, never accepted
    closed_by_server: int = 0  # opened, then closed (or answered unasked) before measured
    not_attempted: int = 0  # connects not tried after the first failure
    zombies: int = 0
    baseline_descriptors: int = 0
    descriptors_per_connection: float | None = None
    uss_mib: float = 0.0
    baseline_uss_mib: float = 0.0
    uss_per_connection_kib: float | None = None
    sample: dict = field(default_factory=dict)  # GETs on held connections (rawclient.tally)
    fresh: dict = field(default_factory=dict)  # GETs on new connections while holding
    stopped_clean: bool | None = None  # the server's process group was gone after the step

    @property
    def climbing_stops(self) -> bool:
        """A failure, not a backlog: a larger count would only fail the same way."""
        return bool(self.failure or self.errors or self.closed_by_server)

    def verdict(self) -> str:
        if self.failure:
            return self.failure
        said = []
        if self.held == self.connections:
            said.append("held all")
        elif self.in_backlog:
            said.append(f"accepted {self.accepted:,}; {self.in_backlog:,} wait in the backlog")
        else:
            said.append(f"held {self.held:,} of {self.connections:,}")
        if self.errors:
            said.append("connects failed: " + _kinds(self.errors))
        if self.closed_by_server:
            said.append(f"{self.closed_by_server:,} closed by the server")
        return "; ".join(said)


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} x{n:,}" for name, n in counts.items())


# limits -----------------------------------------------------------------------------------------


def descriptor_room() -> int:
    """Connections one process can hold: the hard RLIMIT_NOFILE (holder and server raise their
    soft limit to it) less what they need besides."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(0, hard - DESCRIPTOR_RESERVE)


def thread_room() -> int:
    """Threads we may add: the machine's process ids less those in use and a reserve."""
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    in_use = int(Path("/proc/loadavg").read_text().split()[3].split("/")[1])
    return max(0, pid_max - in_use - THREAD_RESERVE)


def model_counts(model: str, settings: ScaleSettings) -> list[tuple[int, int | None, str]]:
    """(count, the largest count asked if a cap lowered it, why) for each step of a model,
    ascending; counts that a cap makes equal are measured once."""
    caps = [(descriptor_room(), "the descriptor limit")]
    if model in FORK_MODELS:
        caps.append((settings.fork_cap, "--fork-cap (process ids)"))
    if model == "threaded":
        caps.append((thread_room(), "the free process ids (one per thread)"))
    limit, why = min(caps)
    within = sorted(c for c in set(settings.counts) if c <= limit)
    over = sorted(c for c in set(settings.counts) if c > limit)
    steps: list[tuple[int, int | None, str]] = [(count, None, "") for count in within]
    if over:
        asked = " and ".join(f"{c:,}" for c in over)
        if within and within[-1] == limit:
            steps.pop()
        steps.append((limit, over[-1], f"{asked} capped to {limit:,} by {why}"))
    return steps


def step_s(model: str, count: int, settings: ScaleSettings) -> float:
    """A step's planned seconds: its fixed cost, the server's settle and the holder's, the
    connections opened (and a fork model's children); a one-at-a-time model's timed GETs wait
    out their timeout."""
    seconds = STEP_FIXED_S + 2 * settings.settle_s + count * OPEN_S
    if model in FORK_MODELS:
        seconds += count * FORK_S
    return seconds + (settings.timeout_s if KINDS[model] == "one at a time" else 0.0)


def planned(settings: ScaleSettings) -> list[list[float]]:
    """Each model's steps' planned seconds, every count held (a model's climb ends at its first
    failure: at most)."""
    return [
        [step_s(model, count, settings) for count, _, _ in model_counts(model, settings)]
        for model in settings.models
    ]


# measuring the server ---------------------------------------------------------------------------


def server_command(model: str, settings: ScaleSettings, catalog: Catalog) -> list[str]:
    """The model as the harness runs it (bench/plan.py), holding idle connections for as long
    as the step lasts, with a backlog that can queue thousands."""
    command = catalog.servers[model].command(catalog.workloads["hello"], None, None)
    command += [
        "--header-timeout",
        "600",
        "--keepalive-timeout",
        "600",
        "--backlog",
        str(BACKLOG),
    ]
    if model in FORK_MODELS:  # a hard bound in the server too: 503 instead of another fork
        command += ["--max-children", str(settings.fork_cap + settings.fresh + 16)]
    return command


def tree_figures(server: ServerProcess) -> dict:
    """RSS, USS, descriptors, processes, threads and zombies of the server's whole tree. RSS
    counts the pages forked children share with their parent once per child; USS counts only a
    process's private pages (a child's copied-on-write ones), so the growth of the tree's USS
    is what each connection really costs, whoever else maps the same libraries."""
    figures = dict.fromkeys(("rss", "uss", "descriptors", "threads", "zombies"), 0)
    tree = server.tree()
    for process in tree:
        with contextlib.suppress(psutil.Error):
            if process.status() == psutil.STATUS_ZOMBIE:
                figures["zombies"] += 1
                continue
            memory = process.memory_full_info()
            figures["rss"] += memory.rss
            figures["uss"] += memory.uss
            figures["descriptors"] += process.num_fds()
            figures["threads"] += process.num_threads()
    figures["processes"] = len(tree)
    return figures


def accepted_peers(server: ServerProcess) -> set[int]:
    """Client ports of the connections the server's processes hold a socket for (a socket
    shared by a parent and its child counts once)."""
    peers: set[int] = set()
    for process in server.tree():
        with contextlib.suppress(psutil.Error):
            for conn in process.net_connections(kind="tcp4"):
                if conn.raddr and conn.laddr.port == server.port:
                    peers.add(conn.raddr.port)
    return peers


def listen_queue(port: int) -> int:
    """Connections waiting in the kernel's accept queue of the loopback listener on `port`
    (for a listening socket, /proc/net/tcp's rx_queue is that queue's length)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            return int(queues.split(":")[1], 16)
    return 0


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# one step ---------------------------------------------------------------------------------------


def measure_step(model: str, count: int, settings: ScaleSettings, session: Session) -> Step:
    """A fresh server holding `count` idle connections, measured; stopped and reaped after. The
    server runs on the session's server CPUs, the holder (the client side) on its generator's."""
    step = Step(model, count, kind=KINDS[model])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        with launched(
            server_command(model, settings, session.catalog),
            rlimits={resource.RLIMIT_NOFILE: (hard, hard)},
            cpus=session.server_cpus,
            registry=session.registry,
            what=f"scale server {model}",
        ) as server:
            for _ in range(WARM_UP_REQUESTS):
                asyncio.run(fresh_get(server.port, 5.0))
            time.sleep(settings.settle_s)
            baseline = tree_figures(server)
            step.baseline_rss_mib = baseline["rss"] / 2**20
            step.baseline_uss_mib = baseline["uss"] / 2**20
            step.baseline_descriptors = baseline["descriptors"]
            _hold_and_measure(server, step, baseline, settings, session.generator_cpus)
    except LaunchError as exc:
        step.failure = f"did not start: {str(exc).splitlines()[0][:200]}"
        return step
    step.stopped_clean = _group_gone(server.pid)
    return step


def _hold_and_measure(
    server: ServerProcess,
    step: Step,
    baseline: dict,
    settings: ScaleSettings,
    cpus: set[int] | None,
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.scenarios.holder",
            *("--port", str(server.port), "--count", str(step.connections)),
            *("--sample", str(settings.sample), "--fresh", str(settings.fresh)),
            *("--timeout", str(settings.timeout_s), "--settle", str(settings.settle_s)),
        ],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=child_setup(then=pinned(cpus)),  # dies with the harness, even by SIGKILL
    )
    try:
        held = _read_report(holder)
        if held is None:
            step.failure = "the holder died before it reported"
            return
        step.opened, step.errors = held["opened"], held["errors"]
        step.not_attempted, step.open_s = held["not_attempted"], held["open_s"]
        step.closed_by_server = held["opened"] - held["states"].get("open", 0)
        figures = tree_figures(server)
        accepted = accepted_peers(server)
        step.in_backlog = listen_queue(server.port)
        step.accepted = len(accepted)
        step.held = len(accepted & set(held["open_ports"]))
        step.rss_mib, step.uss_mib = figures["rss"] / 2**20, figures["uss"] / 2**20
        step.descriptors, step.zombies = figures["descriptors"], figures["zombies"]
        step.processes, step.threads = figures["processes"], figures["threads"]
        if step.held >= PER_CONNECTION_FROM:
            step.rss_per_connection_kib = (figures["rss"] - baseline["rss"]) / step.held / 1024
            step.uss_per_connection_kib = (figures["uss"] - baseline["uss"]) / step.held / 1024
            step.descriptors_per_connection = (
                figures["descriptors"] - baseline["descriptors"]
            ) / step.held
        if server.popen and server.popen.poll() is not None:
            step.failure = f"the server exited with {server.popen.returncode}"
            return
        assert holder.stdin is not None  # started with a pipe
        holder.stdin.write("go\n")
        holder.stdin.flush()
        timed = _read_report(holder)
        if timed is not None:
            step.sample, step.fresh = timed["sample"], timed["fresh"]
    except (OSError, ValueError, KeyError) as exc:
        step.failure = f"the holder failed: {exc}"
    finally:
        with contextlib.suppress(OSError):
            if holder.stdin is not None:
                holder.stdin.close()
        try:
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()


def _read_report(holder: subprocess.Popen) -> dict | None:
    assert holder.stdout is not None  # started with a pipe
    line = holder.stdout.readline()
    return json.loads(line) if line else None


# a model, the whole scenario --------------------------------------------------------------------


def measure_model(
    model: str, settings: ScaleSettings, notes: list[str], session: Session, counter: Counter
) -> list[Step]:
    """The model's counts, ascending, until one fails (a backlog alone does not stop it); each
    step counted as it ends, the counts not held dropped from the count."""
    steps: list[Step] = []
    counts = model_counts(model, settings)
    for count, asked, cap in counts:
        if cap:
            notes.append(f"{model}: {cap}")
            session.say(f"[yellow]{model}: {cap}[/]")
        counter.now(f"{model}: holding {count:,} idle connections", step_s(model, count, settings))
        step = measure_step(model, count, settings, session)
        step.capped_from = asked
        steps.append(step)
        if step.climbing_stops:  # the larger counts would fail the same way: not tried
            rest = [step_s(model, count, settings) for count, _, _ in counts[len(steps) :]]
            counter.drop(sum(rest), len(rest))
        colour = "red" if step.climbing_stops else "green"
        counter.done(
            f"{model}, {count:,} idle connections: [{colour}]{step.verdict()}[/]{_cost(step)}"
        )
        if step.climbing_stops:
            break
    return steps


def _cost(step: Step) -> str:
    answered = f"{step.sample.get('answered', 0)} of {step.sample.get('asked', 0)} sampled GETs"
    if step.rss_per_connection_kib is None:
        return f" ({answered} answered)"
    return (
        f" ({step.rss_per_connection_kib:,.1f} KiB RSS, "
        f"{step.descriptors_per_connection:.2f} descriptors per connection; {answered} answered)"
    )


def run_scale(out: Path, settings: ScaleSettings, session: Session | None = None) -> dict:
    """Measure every model into out/scale.json (written after each step) and return it, on
    `session` (one of its own on `out` if none is given): its catalog, CPUs, registry and
    terminal; the first SIGINT or SIGTERM stops the step under way, its server reaped."""
    out.mkdir(parents=True, exist_ok=True)
    session = session or Session(out, Catalog.standard())
    notes: list[str] = []
    document = {
        "scenario": "scale",
        "descriptor_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        "counts": list(settings.counts),
        "settings": asdict(settings) | {"backlog": BACKLOG, "cpus": os.cpu_count()},
        "notes": notes,
        "steps": [],
        "summary": [],
    }
    steps: list[Step] = []
    plan = planned(settings)
    parts = [("every count of every model", sum(map(sum, plan)))]
    count = session.reporter.counting("scale", parts, sum(map(len, plan)), "steps", at_most=True)
    with session.running(), count as counter:
        for model in settings.models:
            steps += measure_model(model, settings, notes, session, counter)
            rows = [asdict(s) | {"verdict": s.verdict()} for s in steps]
            document["steps"], document["summary"] = rows, rows_per_model(rows)
            write_json(out / "scale.json", document)
    return document


def rows_per_model(steps: list[dict]) -> list[dict]:
    """One row per model: its largest step's figures (a pure function of the stored steps)."""
    rows = []
    for model in dict.fromkeys(s["model"] for s in steps):
        largest = [s for s in steps if s["model"] == model][-1]
        sample, fresh = largest.get("sample") or {}, largest.get("fresh") or {}
        rows.append(
            {
                "model": model,
                "kind": largest.get("kind", ""),
                "asked": largest["connections"],
                "held": largest["held"],
                "in_backlog": largest.get("in_backlog", 0),
                "failed": sum(largest["errors"].values()),
                "rss_per_connection_kib": largest["rss_per_connection_kib"],
                "uss_per_connection_kib": largest.get("uss_per_connection_kib"),
                "descriptors_per_connection": largest.get("descriptors_per_connection"),
                "sample_answered": f"{sample.get('answered', 0)}/{sample.get('asked', 0)}",
                "fresh_answered": f"{fresh.get('answered', 0)}/{fresh.get('asked', 0)}",
                "sample_p50_ms": (sample.get("latency_ms") or {}).get("p50"),
                "verdict": largest.get("verdict", ""),
            }
        )
    return rows


# the table --------------------------------------------------------------------------------------


# command line -----------------------------------------------------------------------------------


COMMAND = options.Command(
    "scale",
    prog="python -m bench scale",
    description="C10K: how many idle connections each model holds, the server tree's RSS "
    "and descriptors per connection, and whether it still answers while holding them.",
    epilog="The fork models are capped (--fork-cap); counts above what the descriptor limit "
    "(or, for threaded, the free process ids) allows are capped, and the run says so.",
    choices={"servers": MODELS},
    defaults={"servers": MODELS},
)


def parse_args(argv: list[str] | None) -> tuple[ScaleSettings, Path | None]:
    parser = COMMAND.parser()
    args = parser.parse_args(argv)
    models = args.servers
    try:
        counts = tuple(sorted({int(c) for c in args.counts.split(",")}))
    except ValueError:
        parser.error(f"--counts wants whole numbers, got {args.counts!r}")
    if not counts or counts[0] < 1 or counts[-1] > MAX_COUNT:
        parser.error(f"--counts must be from 1 to {MAX_COUNT:,}")
    if not 0 <= args.duration <= 60 or not 0.1 <= args.timeout <= 30:
        parser.error("--duration must be 0 to 60 s and --timeout 0.1 to 30 s")
    if not 0 <= args.sample <= 1000 or not 0 <= args.fresh <= 100:
        parser.error("--sample must be 0 to 1000 and --fresh 0 to 100")
    if not 1 <= args.fork_cap <= 1024:
        parser.error("--fork-cap must be 1 to 1024")
    settings = ScaleSettings(
        models, counts, args.duration, args.sample, args.fresh, args.timeout, args.fork_cap
    )
    return settings, args.out


def main(argv: list[str] | None = None) -> int:
    settings, out = parse_args(argv)
    return run_command(
        "scale",
        out,
        lambda session: run_scale(session.folder, settings, session),
        lambda d: scale_table(d["steps"]),
    )


if __name__ == "__main__":
    sys.exit(main())
