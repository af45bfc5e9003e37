"""Sessions: `bench` (the benchmark: every server under the same locust workload, stored in
results/<run-id>/run.json), `tests`, `lint` (ruff), `fuzz` (the protocol core's property-based
tests with far more examples), `hostile` (hostile requests: ours against gunicorn and uvicorn),
`ceiling` (wrk against uvicorn, gunicorn and waitress), `scale` (C10K: idle connections held,
memory per connection), `slowclients` (what byte-at-a-time clients cost the normal users),
`crosscheck` (locust and wrk on the same cells) and `capacity` (a rate sweep per server: the
highest offered rate within a p99 and an error limit).

Every session runs on the interpreter that runs nox (any Python from 3.11: `python3 -m nox`),
so no particular version need be installed. Virtualenvs are reused between runs, and the project
is reinstalled only when pyproject.toml changed since the last install, so a second run starts
in seconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent


def install_once(session: nox.Session, *requirements: str) -> None:
    """pip install, skipped when the same requirements and pyproject.toml were installed."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(" ".join(requirements).encode())
    stamp = Path(session.virtualenv.location) / ".installed"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        session.log("requirements unchanged since the last install: skipping pip")
        return
    session.install(*requirements)
    stamp.write_text(digest.hexdigest())


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmark: `nox -s bench -- [--profile quick|default|full] [options]`
    (`python -m bench run --help` lists them)."""
    install_once(session, "-e", ".[peers]")
    session.run("python", "-m", "bench", "run", *session.posargs)


@nox.session
def micro(session: nox.Session) -> None:
    """pytest-benchmark micro-benchmarks: `nox -s micro -- [results folder]`; writes micro.json
    and says what got slower than the previous micro run."""
    install_once(session, "-e", ".[test]")
    out = ["--out", session.posargs[0]] if session.posargs else []
    session.run("python", "-m", "bench", "micro", *out)


@nox.session
def report(session: nox.Session) -> None:
    """Redraw the charts and report.html of a stored run: `nox -s report -- results/<run-id>`."""
    install_once(session, "-e", ".[peers]")
    session.run("python", "-m", "bench", "report", *session.posargs)


def keep_hypothesis_cache_in_venv(session: nox.Session) -> None:
    """Hypothesis keeps a cache; in the session's virtualenv it stays out of the work tree."""
    session.env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(
        Path(session.virtualenv.location) / "hypothesis"
    )


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite: `nox -s tests -- [pytest args]`."""
    install_once(session, "-e", ".[test]")
    keep_hypothesis_cache_in_venv(session)
    session.run("pytest", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """The protocol core's property-based tests with the deep hypothesis profile (far more
    examples than the suite runs; tests/conftest.py): `nox -s fuzz -- [pytest args]`."""
    install_once(session, "-e", ".[test]")
    keep_hypothesis_cache_in_venv(session)
    session.env["HYPOTHESIS_PROFILE"] = "deep"
    session.run(
        "pytest", "tests/test_parser_fuzz.py", "--hypothesis-show-statistics", *session.posargs
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    install_once(session, "ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def ensure_wrk(session: nox.Session) -> None:
    """wrk comes from Debian; install it when we may (root), else say how."""
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        session.log("wrk is missing: installing Debian's wrk")
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", "wrk", external=True)
    else:
        session.error("wrk is not installed: run `sudo apt-get install wrk`, then try again")


@nox.session
def ceiling(session: nox.Session) -> None:
    """Our fastest models against uvicorn, gunicorn and waitress under wrk:
    `nox -s ceiling -- [--duration 5] [--rounds 3] [--only NAME ...]`."""
    ensure_wrk(session)
    install_once(session, "-e", ".[peers]")
    session.run("python", "-m", "bench.scenarios.ceiling", *session.posargs)


@nox.session
def scale(session: nox.Session) -> None:
    """C10K: idle connections held by every model, RSS and descriptors per connection, requests
    while holding: `nox -s scale -- [--models ...] [--counts 100,1000,10000]`."""
    install_once(session, "-e", ".")
    session.run("python", "-m", "bench.scenarios.scale", *session.posargs)


@nox.session
def capacity(session: nox.Session) -> None:
    """A rate sweep per server, open loop, and its capacity: the highest offered rate with p99
    and errors within their limits: `nox -s capacity -- [--servers ...] [--rates ...] [options]`
    (`python -m bench.scenarios.capacity --help` lists them)."""
    install_once(session, "-e", ".[peers]")
    session.run("python", "-m", "bench.scenarios.capacity", *session.posargs)


@nox.session
def hostile(session: nox.Session) -> None:
    """Hostile requests against our keep-alive models, gunicorn and uvicorn; prints the markdown
    table that servers/HOSTILE.md explains: `nox -s hostile -- [--servers a,b] [--bound 4]`."""
    install_once(session, "-e", ".[peers]")
    session.run("python", "-m", "bench.scenarios.hostile", *session.posargs)


@nox.session
def slowclients(session: nox.Session) -> None:
    """Normal users' throughput without and with clients that send their headers one byte at a
    time, per model: `nox -s slowclients -- [--models ...] [--slow 8] [--users 8]`."""
    install_once(session, "-e", ".")
    session.run("python", "-m", "bench.scenarios.slowclients", *session.posargs)


@nox.session
def crosscheck(session: nox.Session) -> None:
    """locust and wrk on the same cells: `nox -s crosscheck -- [--servers ...] [--users 8]`
    (installs Debian's wrk as root)."""
    ensure_wrk(session)
    install_once(session, "-e", ".")
    session.run("python", "-m", "bench.scenarios.crosscheck", *session.posargs)
