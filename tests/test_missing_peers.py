"""Nothing dropped silently (issue 23, item 4): a server asked for by name that cannot run here
(a peer not installed, an added server whose program is not found, an application it cannot
serve) is named on the terminal before anything runs, with how to get it; the command goes on
with the rest and says so, or, with nothing left, stops with a one-line error (exit 2).

Nothing is uninstalled: the peers' availability check (importlib.util.find_spec) is made to
miss one module, or an added server names a program that does not exist."""

from __future__ import annotations

import importlib
import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bench.__main__ import main
from bench.catalog import SERVERS, WORKLOADS, Catalog, added_server
from bench.plan import PlanError, Settings, build_plan
from bench.run.console import Reporter
from tests.conftest import live_descendants

HINT = "pip install -e '.[peers]', or nox -s bench, which installs the peers"
REAL_FIND_SPEC = importlib.util.find_spec


def without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """This Python, as if `modules` were not installed (the check the catalog makes)."""

    def find_spec(name: str, *args, **kwargs):
        return None if name in modules else REAL_FIND_SPEC(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def module_of(peer: str) -> str:
    """The module a peer's row runs with `python -m`: granian, gunicorn, uvicorn..."""
    command = SERVERS[peer].peer_command
    assert command[1] == "-m", command
    return command[2]


# the catalog: the one place names meet this machine ---------------------------------------------


def test_a_peer_not_installed_is_named_with_how_to_install_it(monkeypatch) -> None:
    without(monkeypatch, "granian", "gunicorn")
    resolved = Catalog.standard().resolve(
        ["granian", "asyncio", "gunicorn-sync", "gunicorn-gthread"], ["hello"]
    )
    assert resolved.servers == ("asyncio",)
    assert resolved.lines() == [
        f"granian is not run: granian is not installed here ({HINT})",
        f"gunicorn-sync, gunicorn-gthread are not run: gunicorn is not installed here ({HINT})",
        "going on with asyncio",
    ]


def test_an_added_server_whose_program_is_not_found_is_named(tmp_path: Path) -> None:
    ghost = added_server("ghost", "no-such-server-program --port {port}")
    local = added_server("local", "./serve.sh {port}", cwd=str(tmp_path))  # not there yet
    catalog = Catalog({**SERVERS, "ghost": ghost, "local": local}, dict(WORKLOADS))
    resolved = catalog.resolve(["ghost", "local", "threaded"], ["hello"])
    assert resolved.servers == ("threaded",)
    assert resolved.lines()[0] == (
        "ghost is not run: no-such-server-program is not found here "
        "(install it, or give its full path)"
    )
    assert resolved.lines()[1].startswith("local is not run: ./serve.sh is not found here")
    script = tmp_path / "serve.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert catalog.resolve(["local"], ["hello"]).servers == ("local",)  # found where it runs


def test_an_application_a_server_cannot_serve_is_named_with_the_workloads() -> None:
    resolved = Catalog.standard().resolve(["basic", "uvicorn"], ["hello", "django", "io"])
    assert resolved.servers == ("basic", "uvicorn")  # basic still runs hello
    assert resolved.lines() == ["basic is not run on django, io: basic serves only hello"]
    nothing = Catalog.standard().resolve(["basic"], ["io"])
    assert (
        nothing.servers == () and nothing.error() == "nothing to run here: basic serves only hello"
    )


# run: the plan resolves the names; the runner says so before anything runs ----------------------


def test_a_run_of_missing_peers_only_is_a_one_line_error(monkeypatch, capsys, tmp_path) -> None:
    without(monkeypatch, "granian")
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--servers", "granian", "--out", str(tmp_path / "run")])
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"python -m bench: error: nothing to run here: granian is not installed here ({HINT})"
    ]
    assert not (tmp_path / "run").exists()  # nothing started, not even the results folder


def test_a_run_goes_on_with_the_rest_and_says_so_first(monkeypatch) -> None:
    without(monkeypatch, "granian")
    plan = build_plan(Settings(servers=("granian", "asyncio"), workloads=("hello",), users=(1,)))
    assert {cell.server for cell in plan.cells} == {"asyncio"}
    assert plan.skipped == [
        {
            "server": "granian",
            "workload": "hello",
            "reason": f"granian is not installed here ({HINT})",
        }
    ]
    terminal = io.StringIO()
    Reporter(console=Console(file=terminal, width=300)).unavailable(plan.resolved)
    assert terminal.getvalue().splitlines() == [
        f"granian is not run: granian is not installed here ({HINT})",
        "going on with asyncio",
    ]


def test_a_plan_with_nothing_left_says_every_reason(monkeypatch) -> None:
    without(monkeypatch, "uvicorn")
    with pytest.raises(PlanError) as refused:
        build_plan(Settings(servers=("uvicorn", "basic"), workloads=("io",), users=(1,)))
    assert str(refused.value) == (
        f"nothing to run here: uvicorn is not installed here ({HINT}); basic serves only hello"
    )


@pytest.mark.slow
def test_the_terminal_names_the_missing_peer_before_the_run_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    """The whole command, in a Python of its own where granian's module is not found: the
    lines come first, then the run of what is left."""
    patched = (
        "import importlib.util, sys; real = importlib.util.find_spec; "
        "importlib.util.find_spec = "
        "lambda n, *a, **k: None if n == 'granian' else real(n, *a, **k); "
        "from bench.__main__ import main; sys.exit(main(sys.argv[1:]))"
    )
    out = tmp_path / "run"  # its parent, swept for an earlier run's leftovers, is this test's
    quick = ["--profile", "quick", "--duration", "1s", "--warmup", "200ms", "--settle", "200ms"]
    chosen = ["--servers", "granian,basic", "--no-wrk-bound-cells", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", patched, "run", *quick, *chosen],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    said = done.stderr.splitlines()
    named = said.index(f"granian is not run: granian is not installed here ({HINT})")
    assert said[named + 1] == "going on with basic"
    first_cell = next(i for i, line in enumerate(said) if "basic/hello" in line)
    assert named < first_cell
    assert not any("granian/" in line for line in said)
    assert not live_descendants()


# the scenarios: their --servers resolved as they are parsed ------------------------------------


def scenario_parsers() -> list[tuple[str, str, str]]:
    """(command, a peer its --servers offers, one of ours it offers) for every scenario whose
    --servers offers a peer."""
    from bench.__main__ import SCENARIOS

    found = []
    for name, (module, _) in SCENARIOS.items():
        command = importlib.import_module(module).COMMAND
        servers = [o for o in command.options() if o.key == "servers"]
        if not servers:
            continue
        offered = servers[0].choices or ()
        peers = [s for s in offered if s in SERVERS and SERVERS[s].kind == "peer"]
        ours = [s for s in offered if s in SERVERS and SERVERS[s].kind == "ours"]
        if peers and ours:
            found.append((name, peers[0], ours[0]))
    return found


@pytest.mark.parametrize(("command", "peer", "ours"), scenario_parsers())
def test_a_scenario_names_a_missing_peer_and_goes_on(
    command: str, peer: str, ours: str, monkeypatch, capsys
) -> None:
    from bench.__main__ import SCENARIOS

    without(monkeypatch, module_of(peer))
    parser = importlib.import_module(SCENARIOS[command][0]).COMMAND.parser()
    args = parser.parse_args(["--servers", f"{peer},{ours}"])
    assert tuple(args.servers) == (ours,)
    prog = f"python -m bench {command}"
    assert capsys.readouterr().err.splitlines() == [
        f"{prog}: {peer} is not run: {module_of(peer)} is not installed here ({HINT})",
        f"{prog}: going on with {ours}",
    ]
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["--servers", peer])
    assert stopped.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{prog}: error: nothing to run here: ") and HINT in line


def test_every_scenario_that_offers_a_peer_is_checked() -> None:
    assert {"capacity", "crosscheck", "ceiling", "hostile"} <= {c for c, _, _ in scenario_parsers()}
