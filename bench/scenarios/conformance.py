"""The conformance corpus (bench/conformance/) over sockets, against our production models and the
peers: `python -m bench conformance` prints a table of case classes by servers (the cases passed
of all), then each failure, and stores conformance.json and conformance.md in its results folder.

Every server serves the echo application helloworld/conformance.py (WSGI; the ASGI one for the
ASGI servers), one at a time, unpinned, on 127.0.0.1; ours with --header-timeout 1, so that a
request cut short gets its 408 within a case's bound (--timeout). Our asyncio model runs on both
loops (the catalog's asyncio is uvloop; asyncio-stdlib is the stock loop), and on its ASGI path
too, whose scope shows header lines in order where the WSGI environ cannot. A peer that is not
installed is named, not run.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace

from bench import options
from bench.catalog import SERVERS, Catalog, ServerSpec, Workload
from bench.conformance import CASES, CLASSES, Case, sockets
from bench.conformance.core import Result
from bench.launch import LaunchError, free_port, launched
from bench.report.conformance import markdown
from bench.run import Session
from bench.store import StoreError, results_dir, write_json
from servers.parser import Limits

HEADER_TIMEOUT = 1.0
STDLIB_LOOP = replace(
    SERVERS["asyncio"],
    name="asyncio-stdlib",
    description="one stdlib asyncio event loop, WSGI inline",
    options=("--loop", "asyncio"),
)
OURS = ("asyncio", "asyncio-stdlib", "asyncio-asgi", "threaded", "prefork", "fork_reap")
PEERS = ("gunicorn-sync", "uvicorn", "uvicorn-h11", "hypercorn", "waitress", "granian")
ECHO = Workload(
    "conformance",
    "/",
    "helloworld.conformance:app",
    "helloworld.conformance:asgi",
    None,
    "the echo application: what the application received, as JSON",
)
PACKAGE = {"gunicorn-sync": "gunicorn", "uvicorn-h11": "uvicorn"}  # else the row's own name


def catalog() -> Catalog:
    """The standard rows, and our asyncio model on the stock loop."""
    standard = Catalog.standard()
    return Catalog({**standard.servers, STDLIB_LOOP.name: STDLIB_LOOP}, standard.workloads)


def runnable(cases: Sequence[Case] = CASES) -> tuple[list[Case], list[dict]]:
    """The cases a server with its own limits can be given, and those left out, with why: a
    case that sets the core's limits (Case.limits) needs a server started with them."""
    kept = [case for case in cases if case.limits is None]
    left = [
        {"case": case.name, "why": f"it needs a server started with {changed(case.limits)}"}
        for case in cases
        if case.limits is not None
    ]
    return kept, left


def changed(limits: Limits) -> str:
    """The limits that differ from a server's defaults, as name=value."""
    default = asdict(Limits())
    return ", ".join(
        f"{name}={value}" for name, value in asdict(limits).items() if default[name] != value
    )


def command(spec: ServerSpec) -> tuple[list[str], int | None]:
    """The command line that runs `spec` on the echo application, and the port a peer is told
    to use (ours pick their own)."""
    if spec.kind == "ours":
        return [*spec.command(ECHO, None, None), "--header-timeout", f"{HEADER_TIMEOUT:g}"], None
    port = free_port()
    return spec.command(ECHO, port, None), port


def measure(spec: ServerSpec, cases: Sequence[Case], bound: float, session: Session) -> dict:
    """One server's entry of conformance.json: started, every case sent, checked that it still
    serves and did not die, stopped (its whole tree). A server that cannot be measured gets an
    entry whose `error` says why."""
    argv, port = command(spec)
    entry: dict = {"name": spec.name, "description": spec.description, "kind": spec.kind}
    entry["version"] = version(spec)
    started = time.monotonic()
    try:
        with launched(argv, port=port, registry=session.registry, what=spec.name) as server:
            view = sockets.learn_view(server.port, bound)
            began = time.monotonic()
            results = sockets.run(server.port, cases, view, bound)
            entry["cases_s"] = round(time.monotonic() - began, 2)
            entry |= {"still_serves": sockets.still_serves(server.port, view, bound)}
            if server.popen is not None and server.popen.poll() is not None:
                entry |= {"still_serves": False, "error": "it died during the cases"}
    except (LaunchError, sockets.NotAnEcho, OSError) as exc:  # OSError: it refused the GET
        reason = getattr(exc, "reason", "") or str(exc)
        return entry | {"error": reason, "seconds": round(time.monotonic() - started, 2)}
    entry |= {
        "interface": view.interface,
        "target": view.target,
        "per_connection": view.per_connection,
        "seconds": round(time.monotonic() - started, 2),
    }
    return entry | summary(results, view, ours=spec.kind == "ours")


def summary(results: Sequence[Result], view: sockets.View, ours: bool) -> dict:
    """Cases passed per class, each failure, and (for ours) where the socket and the core
    disagree."""
    passed = {cls: 0 for cls in CLASSES}
    for result in results:
        passed[result.case.cls] += result.passed
    failures = [
        {
            "case": result.case.name,
            "class": result.case.cls,
            "rule": result.case.rule,
            "expected": sockets.said_all(result.case.expected),
            "came": sockets.said_all(result.outcomes[sockets.FEED]),
        }
        for result in results
        if not result.passed
    ]
    found: dict = {"passed": passed, "failures": failures}
    if ours:
        found["differs_from_core"] = [
            {
                "case": result.case.name,
                "core": sockets.said_all(of_core),
                "came": sockets.said_all(result.outcomes[sockets.FEED]),
            }
            for result, of_core in sockets.against_core(results, view)
        ]
    return found


def version(spec: ServerSpec) -> str:
    if spec.kind == "ours":
        return ""
    try:
        return importlib.metadata.version(PACKAGE.get(spec.name, spec.name))
    except importlib.metadata.PackageNotFoundError:
        return ""


COMMAND = options.Command(
    "conformance",
    prog="python -m bench conformance",
    description=__doc__,
    choices={"servers": OURS + PEERS},
    defaults={"servers": OURS + PEERS},
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = COMMAND.parser()
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be above 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """The table on standard output, conformance.json and conformance.md in the folder; 1 when
    a server could not be measured or stopped serving."""
    given = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(given)
    try:
        folder = results_dir("conformance", args.out, min_free_bytes=0)
    except StoreError as exc:
        print(f"{COMMAND.prog}: error: {exc}", file=sys.stderr)
        return 2
    session = Session(folder, catalog())
    cases, skipped = runnable()
    document: dict = {
        "kind": "conformance",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": shlex.join(["python", "-m", "bench", "conformance", *given]),
        "settings": {
            "bound_s": args.timeout,
            "linger_s": sockets.LINGER,
            "concurrency": sockets.CONCURRENCY,
            "header_timeout_s": HEADER_TIMEOUT,
        },
        "python": sys.version.split()[0],
        "cases": len(cases),
        "classes": {cls: sum(case.cls == cls for case in cases) for cls in CLASSES},
        "skipped": skipped,
        "missing": {},
        "servers": [],
    }
    interrupted = False
    try:
        run_servers(document, args.servers, cases, args.timeout, session)
    except KeyboardInterrupt:
        interrupted = True
        print(f"{COMMAND.prog}: interrupted; kept what was finished", file=sys.stderr)
    write_json(folder / "conformance.json", document)
    print(markdown(document), end="")
    (folder / "conformance.md").write_text(markdown(document))
    print(f"stored in {folder / 'conformance.json'} and conformance.md", file=sys.stderr)
    unwell = [s for s in document["servers"] if s.get("error") or not s.get("still_serves")]
    return 130 if interrupted else 1 if unwell else 0


def run_servers(
    document: dict, names: Sequence[str], cases: Sequence[Case], bound: float, session: Session
) -> None:
    """Each server in turn into `document`, written after each one (conformance.json)."""
    path = session.folder / "conformance.json"
    with session.running():
        for name in names:
            spec = session.catalog.servers[name]
            if missing := spec.missing():
                document["missing"][name] = missing
                session.say(f"{name}: not installed ({missing})")
                continue
            session.say(f"{name}: {len(cases)} cases")
            entry = measure(spec, cases, bound, session)
            document["servers"].append(entry)
            session.say(f"{name}: {_said(entry, len(cases))}")
            write_json(path, document)


def _said(entry: dict, total: int) -> str:
    if entry.get("error"):
        return f"[red]not measured[/]: {entry['error']}"
    return f"{sum(entry['passed'].values())}/{total} passed in {entry['seconds']:.1f} s"


if __name__ == "__main__":
    sys.exit(main())
