"""Memory at scale: how many idle keep-alive connections each model holds, and RSS per connection.

For each model, the server is started with its descriptor limit raised as far as allowed; a
holder process (a separate process, so its memory is not counted) opens N connections, makes one
keep-alive request on each, and holds them all open while the server's whole process tree is
measured. N grows (default 100, 1,000, 10,000) until the first failure, which is reported.

    python -m bench.scale [--models asyncio,threaded,prefork] [--counts 100,1000,10000]
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import resource
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from bench.launch import REPO_ROOT, LaunchError, ServerProcess, servers_command
from bench.store import write_json

console = Console(stderr=True)
MODELS = ("asyncio", "threaded", "prefork")
REQUEST = b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
HOLD_LIMIT_S = 300.0  # a holder never outlives this, whatever happens to its parent


@dataclass
class Step:
    model: str
    connections: int
    held: int = 0
    failure: str = ""
    rss_mib: float = 0.0
    baseline_rss_mib: float = 0.0
    rss_per_connection_kib: float | None = None
    descriptors: int = 0
    processes: int = 0
    threads: int = 0
    open_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


# the holder (runs in its own process) ------------------------------------------------------------


def hold(port: int, count: int) -> int:
    """Open `count` connections, one keep-alive request each; report; hold until stdin closes."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held: list[socket.socket] = []
    errors: dict[str, int] = {}
    started = time.monotonic()
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(REQUEST)
            if not _read_answer(sock):
                raise ConnectionError(errno.ECONNRESET, "closed without an answer")
        except OSError as exc:
            name = (
                "timeout"
                if isinstance(exc, TimeoutError)
                else errno.errorcode.get(exc.errno or 0, type(exc).__name__)
            )
            errors[name] = errors.get(name, 0) + 1
            break  # the first failure ends the step: it is the figure we want
        held.append(sock)
    report = {"held": len(held), "errors": errors, "open_s": time.monotonic() - started}
    print(json.dumps(report), flush=True)
    deadline = time.monotonic() + HOLD_LIMIT_S
    with contextlib.suppress(OSError):  # wait for the parent to close our stdin (or die)
        while time.monotonic() < deadline and sys.stdin.buffer.read(1):
            pass
    for sock in held:
        sock.close()
    return 0


def _read_answer(sock: socket.socket) -> bool:
    data = b""
    while not data.endswith(b"Hello, world!"):
        piece = sock.recv(4096)
        if not piece:
            return False
        data += piece
    return True


# the measurement -------------------------------------------------------------------------------


def tree_figures(server: ServerProcess) -> dict:
    """RSS, descriptors, processes and threads of the server's whole tree."""
    rss = descriptors = threads = 0
    tree = server.tree()
    for process in tree:
        with contextlib.suppress(psutil.Error):
            rss += process.memory_info().rss
            descriptors += process.num_fds()
            threads += process.num_threads()
    return {"rss": rss, "descriptors": descriptors, "processes": len(tree), "threads": threads}


def measure_model(model: str, counts: list[int], settle_s: float) -> list[Step]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    command = servers_command(
        model,
        "helloworld.plain:app",
        "--keepalive-timeout",
        "600",
        "--header-timeout",
        "600",
        "--backlog",
        "4096",
    )
    steps: list[Step] = []
    try:
        with ServerProcess(command, rlimits={resource.RLIMIT_NOFILE: (hard, hard)}) as server:
            _warm_up(server.port)
            time.sleep(settle_s)
            baseline = tree_figures(server)["rss"]
            for count in counts:
                step = Step(model, count, baseline_rss_mib=baseline / 2**20)
                steps.append(step)
                console.print(f"{model}: holding {count:,} connections ...", end=" ")
                _hold_and_measure(server, step, baseline, settle_s)
                if step.failure:
                    console.print(f"[red]failed after {step.held:,}[/]: {step.failure}")
                    break
                console.print(
                    f"{step.rss_per_connection_kib:.1f} KiB per connection "
                    f"(RSS {step.rss_mib:.1f} MiB, {step.descriptors:,} fds)"
                )
    except LaunchError as exc:
        steps.append(Step(model, 0, failure=f"did not start: {str(exc).splitlines()[0]}"))
    return steps


def _warm_up(port: int) -> None:
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(REQUEST)
            _read_answer(sock)


def _hold_and_measure(server: ServerProcess, step: Step, baseline: int, settle_s: float) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-m", "bench.scale", "--hold", str(server.port), str(step.connections)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = holder.stdout.readline()  # type: ignore[union-attr]
        report = json.loads(line) if line else {"held": 0, "errors": {"holder died": 1}}
        step.held, step.errors, step.open_s = report["held"], report["errors"], report["open_s"]
        time.sleep(settle_s)
        figures = tree_figures(server)
        step.rss_mib = figures["rss"] / 2**20
        step.descriptors = figures["descriptors"]
        step.processes, step.threads = figures["processes"], figures["threads"]
        if step.held:
            step.rss_per_connection_kib = (figures["rss"] - baseline) / step.held / 1024
        if step.held < step.connections:
            reasons = ", ".join(f"{name} x{n}" for name, n in step.errors.items()) or "unknown"
            step.failure = f"held {step.held:,} of {step.connections:,}: {reasons}"
        if server.popen and server.popen.poll() is not None:
            step.failure = f"the server exited with {server.popen.returncode}"
    finally:
        with contextlib.suppress(OSError):
            holder.stdin.close()  # type: ignore[union-attr]
        try:
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
        time.sleep(settle_s)  # let the server close them before the next, larger step


def render(steps: list[Step]) -> Table:
    table = Table(title="Idle keep-alive connections held, server RSS (whole process tree)")
    for column in (
        "model",
        "asked",
        "held",
        "RSS MiB",
        "KiB per connection",
        "fds",
        "processes / threads",
        "result",
    ):
        table.add_column(column, justify="left" if column in ("model", "result") else "right")
    for step in steps:
        per = "" if step.rss_per_connection_kib is None else f"{step.rss_per_connection_kib:.1f}"
        table.add_row(
            step.model,
            f"{step.connections:,}",
            f"{step.held:,}",
            f"{step.rss_mib:.1f}",
            per,
            f"{step.descriptors:,}",
            f"{step.processes} / {step.threads:,}",
            step.failure or "ok",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 4 and sys.argv[1] == "--hold":
        return hold(int(sys.argv[2]), int(sys.argv[3]))  # internal: the holder process
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description="How many idle keep-alive connections asyncio, threaded and prefork hold, "
        "and the server's RSS per connection.",
    )
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}"
    )
    parser.add_argument(
        "--counts",
        default="100,1000,10000",
        help="connection counts, ascending (default 100,1000,10000)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=1.0,
        help="seconds to wait before each measurement (default 1)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for scale.json (default results/scale-TIME)"
    )
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    try:
        counts = [int(c) for c in args.counts.split(",")]
    except ValueError:
        parser.error(f"--counts wants whole numbers, got {args.counts!r}")
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if not counts or any(c < 1 for c in counts) or max(counts) > hard - 100:
        parser.error(
            f"--counts must be positive and at most {hard - 100:,} "
            f"(this machine's descriptor limit is {hard:,})"
        )
    out = args.out or REPO_ROOT / "results" / time.strftime("scale-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    for model in models:
        steps += measure_model(model, sorted(counts), args.settle)
        write_json(
            out / "scale.json",
            {"descriptor_limit": hard, "counts": counts, "steps": [asdict(s) for s in steps]},
        )
    Console(width=160).print(render(steps))
    console.print(f"stored in {out / 'scale.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
