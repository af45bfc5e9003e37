"""Sessions: `bench` (the benchmark, `python -m bench run`), `tests`, `lint` (ruff), `fuzz` (the
protocol core's property-based tests with far more examples), and one alias per subcommand of
`python -m bench` (`run`, `report`, `compare`, `micro`, `capacity`, `scale`, `slowclients`,
`crosscheck`, `ceiling`, `hostile`, `overhead`, `conformance`, `soak`): `nox -s capacity --
--servers asyncio` is `python -m bench capacity --servers asyncio` in the session's virtualenv.
The load generator's and the servers' versions come from bench/constraints.txt.

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


def bench_session(name: str, extra: str = "[peers]", wrk: bool = False) -> None:
    """A nox session that is `python -m bench <name> [args]`: one line each, no second CLI."""

    def session_function(session: nox.Session) -> None:
        if wrk:
            ensure_wrk(session)
        install_once(session, "-c", "bench/constraints.txt", "-e", f".{extra}")
        session.run("python", "-m", "bench", name, *session.posargs)

    session_function.__doc__ = f"python -m bench {name} [args] (`-- --help` lists them)"
    nox.session(name=name)(session_function)


for _name in ("run", "report", "compare", "capacity", "scale", "slowclients", "overhead", "soak"):
    bench_session(_name)
bench_session("micro", "[test]")
bench_session("hostile")
bench_session("conformance")
bench_session("ceiling", wrk=True)
bench_session("crosscheck", wrk=True)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmark: `nox -s bench -- [--profile quick|default|full] [options]` is
    `python -m bench run [options]`."""
    install_once(session, "-c", "bench/constraints.txt", "-e", ".[peers]")
    session.run("python", "-m", "bench", "run", *session.posargs)


def keep_hypothesis_cache_in_venv(session: nox.Session) -> None:
    """Hypothesis keeps a cache; in the session's virtualenv it stays out of the work tree."""
    session.env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(
        Path(session.virtualenv.location) / "hypothesis"
    )


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite: `nox -s tests -- [pytest args]` (the peers too: their rows are
    tested), in parallel: three pytest-xdist workers a CPU, as most tests wait on servers and a
    load generator (`-- -n 0` runs it in one process). A module-scoped fixture that runs the
    harness runs once, its module's tests kept on one worker (xdist_group, --dist loadgroup);
    tests marked `alone` run while no other does (tests/conftest.py)."""
    install_once(session, "-c", "bench/constraints.txt", "-e", ".[test,peers]")
    keep_hypothesis_cache_in_venv(session)
    session.run("pytest", "-n", "auto", "--dist", "loadgroup", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """The protocol core's property-based tests with the deep hypothesis profile (far more
    examples than the suite runs; tests/conftest.py), and the differential fuzzing of the core
    against h11 and httptools: DIFFERENTIAL_EXAMPLES in all (100,000 unless set), whose counts
    (examples, explained differences, findings) tests/differential.py prints at the end, as a
    plugin: `nox -s fuzz -- [pytest args]`."""
    install_once(session, "-c", "bench/constraints.txt", "-e", ".[test]", "h11")
    keep_hypothesis_cache_in_venv(session)
    session.env["HYPOTHESIS_PROFILE"] = "deep"
    session.env["DIFFERENTIAL_EXAMPLES"] = os.environ.get("DIFFERENTIAL_EXAMPLES", "100000")
    session.run(
        *("python", "-m", "pytest", "-p", "tests.differential"),  # -m: tests/ on sys.path
        *("tests/test_parser_fuzz.py", "tests/test_differential.py"),
        "--hypothesis-show-statistics",
        *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and mypy over bench/ and servers/ (pyproject.toml)."""
    install_once(session, "-c", "bench/constraints.txt", "-e", ".[lint,peers,test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


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
