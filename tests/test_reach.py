"""Reach (issue 15): a user's own servers and application in the comparison, the reference rows
(granian, hypercorn and the others), the CPUs of server and generator, a locust master with
workers, and a server elsewhere (--target)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from bench import catalog
from bench.catalog import PEERS, SERVERS, WORKLOADS, CatalogError, ServerSpec
from bench.launch import CpuPlanError, cpu_plan, cpus_for, launched
from bench.load import CellLoad, Distribution, Generator
from bench.plan import PlanError, Settings, build_plan
from bench.report.html import reach
from bench.run import Runner
from bench.store import SCHEMA_PATH
from bench.verify import answers
from tests.conftest import live_descendants
from tests.synthetic import record

SCHEMA = json.loads(SCHEMA_PATH.read_text())
QUICK = ["--profile", "quick", "--duration", "1s", "--warmup", "300ms", "--settle", "200ms"]


@pytest.fixture
def restored_catalog():
    """A test that adds rows to the standard catalog itself: put it back as it was."""
    servers, workloads = dict(SERVERS), dict(WORKLOADS)
    yield
    SERVERS.clear()
    SERVERS.update(servers)
    WORKLOADS.clear()
    WORKLOADS.update(workloads)


def bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "run", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


# the catalog: added servers and the user's application ------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mine", "NAME=COMMAND"),
        ("mine=python3 server.py 8000", "must contain {port}"),
        ("asyncio=python3 s.py {port}", "taken by the catalog"),
        ("a,b=python3 s.py {port}", "letters, digits"),
        ("mine=python3 'unclosed {port}", "cannot split"),
    ],
)
def test_a_wrong_added_server_is_refused_with_its_reason(text: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        catalog.parse_add_server(text)


def test_placeholders_are_filled_and_the_row_runs_where_the_user_is(tmp_path: Path) -> None:
    spec = catalog.added_server(
        "mine", "{python} -m x --bind {host}:{port} -w {workers} {app}", workers=3, cwd="/srv"
    )
    options = spec.launch_options(WORKLOADS["hello"])
    port = options["port"]
    assert options["command"] == [
        sys.executable,
        "-m",
        "x",
        "--bind",
        f"127.0.0.1:{port}",
        "-w",
        "3",
        "helloworld.plain:app",
    ]
    assert options["cwd"] == Path("/srv") and spec.kind == "added"


def test_servers_file_gives_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "servers.toml"
    path.write_text(
        '[servers.mine]\ncommand = "uvicorn {app} --port {port}"\ninterface = "asgi"\n'
        'workloads = ["hello"]\n\n[servers.other]\ncommand = "waitress-serve --port={port} {app}"\n'
    )
    mine, other = catalog.read_servers_file(path)
    assert (mine.name, mine.asgi, mine.only_workloads) == ("mine", True, ("hello",))
    assert mine.app_for(WORKLOADS["hello"]) == "helloworld.plain_asgi:app"
    assert (other.name, other.asgi, other.cwd) == ("other", False, os.getcwd())
    path.write_text('[servers.mine]\ncommand = "x {port}"\nthreads = 4\n')
    with pytest.raises(CatalogError, match=r"unknown field.*threads"):
        catalog.read_servers_file(path)
    path.write_text("[servers.mine]\ncommand = \n")
    with pytest.raises(CatalogError, match="servers file"):
        catalog.read_servers_file(path)


def test_an_added_server_joins_every_workload_it_can_serve(restored_catalog) -> None:
    # a program found here (an added server's that is not is left out: tests/test_missing_peers.py)
    asgi = catalog.definition(catalog.added_server("mine", "true {port} {app}", interface="asgi"))
    plan = build_plan(
        Settings(
            servers=("mine", "asyncio", "asyncio-asgi", "basic"),
            workloads=("hello", "app"),
            users=(4,),
            added_servers=(asgi,),
            app={"app": "myapp:application", "interface": "wsgi", "path": "/x", "status": 201},
        )
    )
    cells = {(cell.server, cell.workload) for cell in plan.cells}
    assert cells == {("mine", "hello"), ("asyncio", "hello"), ("asyncio-asgi", "hello")} | {
        ("basic", "hello"),
        ("asyncio", "app"),
    }
    reasons = {(s["server"], s["workload"]): s["reason"] for s in plan.skipped}
    assert "ASGI" in reasons[("mine", "app")] and "only" in reasons[("basic", "app")]
    app = plan.catalog.workloads["app"]
    assert app.status == 201 and app.body is None
    assert "mine" not in SERVERS and "app" not in WORKLOADS  # the plan's catalog, not the module's
    assert plan.as_dict()["settings"]["added_servers"][0]["command"] == ["true", "{port}", "{app}"]


def test_the_app_workload_needs_an_app_and_target_takes_no_servers(restored_catalog) -> None:
    with pytest.raises(PlanError, match="--app"):
        build_plan(Settings(servers=("asyncio",), workloads=("app",), users=(1,)))
    with pytest.raises(PlanError, match="no --servers"):
        build_plan(
            Settings(servers=("asyncio",), workloads=("hello",), users=(1,), target="http://h:1")
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--add-server", "x=echo"], "must contain {port}"),
        (["--servers", "nosuch"], "unknown server 'nosuch'"),
        (["--app", "no_such_module:app"], "no module named 'no_such_module'"),
        (["--expect-body", "hi"], "describe --app"),
        (["--target", "ftp://example.org:21"], "http://HOST:PORT"),
        (["--server-cpus", "4096"], "CPU 4096 is not available"),
        (["--servers-file", "missing.toml"], "cannot read servers file"),
        (["--remote-workers", "1"], "name the server with --target"),
        (["--generator-workers", "-1"], "a whole number from 0"),
        (["--target", "http://127.0.0.1:9", "--add-server", "x=y {port}"], "no added ones"),
        (["--add-server", "target=x {port}"], "taken by the catalog"),
    ],
)
def test_bad_reach_options_are_one_line_errors(
    args: list[str], message: str, tmp_path: Path
) -> None:
    done = bench(*args, "--profile", "quick", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr.strip().splitlines()[-1] and "Traceback" not in done.stderr


# CPUs ------------------------------------------------------------------------------------------


def test_cpu_plan_reserves_a_servers_workers_up_to_half(monkeypatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))
    assert cpu_plan(True) == ({0}, set(range(1, 8)))
    assert cpu_plan(True, reserve=2) == ({0, 1}, set(range(2, 8)))
    assert cpu_plan(True, reserve=16) == ({0, 1, 2, 3}, {4, 5, 6, 7})
    assert cpu_plan(True, server=(6, 7)) == ({6, 7}, set(range(6)))
    assert cpu_plan(True, generator=(0,)) == (set(range(1, 8)), {0})
    assert cpus_for({0, 1}, 1) == {0} and cpus_for({0, 1}, 2) == {0, 1}
    assert cpus_for({0, 1}, 1, named=True) == {0, 1}
    with pytest.raises(CpuPlanError, match="same CPU"):
        cpu_plan(True, server=(1,), generator=(1, 2))
    with pytest.raises(CpuPlanError, match="no CPU is left for the load generator"):
        cpu_plan(True, server=tuple(range(8)))
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    assert cpu_plan(True, reserve=2) == ({0}, {1})  # two cores: one each, as always


# the reference rows ----------------------------------------------------------------------------


def test_a_peer_not_installed_is_skipped_with_how_to_install_it(restored_catalog) -> None:
    SERVERS["absent"] = ServerSpec(
        "absent", "", "peer", peer_command=(sys.executable, "-m", "no_such_server_here", "{port}")
    )
    plan = build_plan(Settings(servers=("absent", "asyncio"), workloads=("hello",), users=(1,)))
    assert [cell.server for cell in plan.cells] == ["asyncio"]
    assert plan.skipped[0]["reason"] == (
        "no_such_server_here is not installed here "
        "(pip install -e '.[peers]', or nox -s bench, which installs the peers)"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", PEERS)
def test_every_reference_row_starts_and_answers_hello(name: str) -> None:
    spec = SERVERS[name]
    with launched(**spec.launch_options(WORKLOADS["hello"]), check=answers(WORKLOADS["hello"])):
        pass
    assert not live_descendants()


# end to end ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_added_servers_and_an_app_are_measured_and_the_wrong_ones_fail(tmp_path: Path) -> None:
    """Yours beside ours, every figure filled; a dead and a wrong one fail with their reason and
    the run goes on."""
    out = tmp_path / "run"
    done = bench(
        *QUICK,
        "--add-server",
        "mine={python} -m servers threaded {app} --port {port}",
        "--add-server",
        "dead={python} -c 'raise SystemExit(3)' {port}",
        "--add-server",
        "wrong={python} -m http.server --bind 127.0.0.1 {port}",
        "--servers",
        "mine,asyncio,asyncio-asgi,dead,wrong",
        "--app",
        "helloworld.plain:app",
        "--path",
        "/hello/",
        "--expect-body",
        "Hello, world!",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads((out / "run.json").read_text())
    jsonschema.validate(document, SCHEMA)
    cells = {cell["server"]: cell for cell in document["cells"]}
    assert set(cells) == {"mine", "asyncio", "dead", "wrong"}  # asyncio-asgi: WSGI app, skipped
    for name in ("mine", "asyncio"):
        cell = cells[name]
        assert cell["status"] == "ok" and cell["workload"] == "app", cell["reason"]
        assert cell["load"]["requests"] > 50 and cell["service_demand"]["us_per_request"] > 0
        assert len(cell["telemetry"]["series"]["t"]) >= 5 and cell["leak"]["verdict"] == "clean"
    assert cells["dead"]["reason"] == "did not start: it exited with 3 before listening"
    assert cells["wrong"]["reason"].startswith("verification failed: GET /hello/ answered 404")
    assert "serves ASGI" in document["plan"]["skipped"][0]["reason"]
    report = (out / "report.html").read_text()
    assert "is a server added for this run" in report and "helloworld.plain:app" in report
    assert not live_descendants()


def filled(value: object, path: str = "") -> set[str]:
    """The paths of a document's fields that hold something (not None, not empty)."""
    if isinstance(value, dict):
        return {p for key, item in value.items() for p in filled(item, f"{path}.{key}")}
    if value is None or value in ("", [], {}):
        return set()
    return {path}


TINY = dict(
    servers=("asyncio",),
    workloads=("hello",),
    users=(4,),
    duration_s=0.5,
    warmup_s=0.2,
    settle_s=0.1,
    ceiling=False,
    wrk_bound_cells=False,
)


@pytest.mark.slow
def test_a_master_and_two_workers_fill_the_same_fields_as_one_process(tmp_path: Path) -> None:
    """Over loopback TCP: the figures (histograms, failures, the generator's CPU) come back
    through locust's messages, the window on the master's clock, the same fields filled."""
    runs = {}
    for name, workers in (("one", 0), ("master", 2)):
        settings = Settings(**TINY, open_rate=200.0, generator_workers=workers)
        assert Runner(build_plan(settings), tmp_path / name, quiet=True).run() == 0
        runs[name] = json.loads((tmp_path / name / "run.json").read_text())
        jsonschema.validate(runs[name], SCHEMA)
    one, master = runs["one"], runs["master"]
    assert len(one["cells"]) == len(master["cells"]) == 2  # closed loop and open loop
    for single, distributed in zip(one["cells"], master["cells"], strict=True):
        assert distributed["status"] == "ok", distributed["reason"]
        variable = {".generator_bound_reason", ".generator_bound_cause"}
        assert filled(single) - variable == filled(distributed) - variable
        assert distributed["load"]["processes"] == 2
        window = distributed["window"]
        assert window["end"] - window["start"] == pytest.approx(0.5, abs=0.02)
        assert 0 < window["load_start"] < window["start"] < window["end"] <= window["load_end"]
    open_loop = master["cells"][1]["load"]
    assert open_loop["due"] == pytest.approx(100, abs=2)  # 200/s for 0.5 s over both workers
    assert master["metadata"]["affinity"]["generator_workers"]["local"] == 2
    assert "a locust master and its workers (2 started here" in reach(record(master))
    assert not live_descendants()


@pytest.mark.slow
def test_a_master_whose_cell_has_fewer_users_than_workers_passes_every_moment(
    tmp_path: Path,
) -> None:
    """The window's moments come from the workers that have users, not from every worker."""
    workload = WORKLOADS["hello"]
    spec = SERVERS["asyncio"]
    moments: list[str] = []
    with (
        launched(**spec.launch_options(workload)) as server,
        Generator(log_dir=tmp_path, distribution=Distribution(local=2)) as generator,
    ):
        load = CellLoad(server.url, workload.path, 1, 0.1, 0.5, body=workload.body)
        result = generator.run(load, lambda name, _: moments.append(name))
    assert result.error == "" and result.requests > 10
    assert moments == ["started", "window_start", "window_end"]
    assert not live_descendants()


@pytest.mark.slow
def test_a_target_elsewhere_is_measured_without_telemetry(tmp_path: Path, restored_catalog) -> None:
    spec = SERVERS["threaded"]
    with launched(**spec.launch_options(WORKLOADS["hello"])) as server:
        settings = Settings(**{**TINY, "servers": ("target",)}, target=server.url)
        assert Runner(build_plan(settings), tmp_path, quiet=True).run() == 0
    document = json.loads((tmp_path / "run.json").read_text())
    jsonschema.validate(document, SCHEMA)
    (cell,) = document["cells"]
    assert cell["server"] == "target" and cell["status"] == "ok", cell["reason"]
    assert cell["load"]["requests"] > 50
    assert cell["telemetry"] is None and cell["service_demand"] is None and cell["command"] == []
    assert "no telemetry" in reach(record(document))


def test_the_answer_names_the_cpus_of_a_server_given_more_than_the_others() -> None:
    from bench.report.answer import answer
    from tests.synthetic import cell
    from tests.synthetic import run as make_run

    cells = []
    for repetition in (1, 2, 3):
        for server, rate, cpus in (("prefork", 2000.0, [0, 1]), ("asyncio", 1500.0, [0])):
            made = cell(server, "hello", 16, rate + repetition, repetition=repetition)
            cells.append({**made, "server_cpus": cpus})
    (level,), _ = answer(record(make_run(cells, repeat=3)))
    assert [entry.label for entry in level.entries] == ["prefork (2 CPUs)", "asyncio"]
    for each in cells:
        each["server_cpus"] = [0, 1]  # all alike: nothing to say
    (level,), _ = answer(record(make_run(cells, repeat=3)))
    assert [entry.label for entry in level.entries] == ["prefork", "asyncio"]


def test_generator_processes_sharing_a_cpu_are_judged_by_their_sum() -> None:
    """Two processes on one CPU at 48 % each ran it out between them: locust-bound, not "other
    work"; two at 48 % on machines of their own did not."""
    from bench.load import LoadResult, generator_verdict, merge

    def report(host: str, share: float) -> dict:
        return {
            "requests": 100,
            "sent": 100,
            "failures": {},
            "window_s": 1.0,
            "started": 0.0,
            "window": [0.5, 1.5],
            "generator": {
                "own_cpu_s": share,
                "own_share": share,
                "cpus_busy_share": 0.97,
                "cpus": 1,
                "host": host,
                "cpu_set": [1],
            },
        }

    load = CellLoad("http://127.0.0.1:1", "/", 2, 0.1, 1.0)
    shared, apart = LoadResult(), LoadResult()
    merge(shared, [report("here", 0.48), report("here", 0.48)], load)
    merge(apart, [report("b", 0.48), report("c", 0.48)], load)
    assert shared.generator_cpu_share == pytest.approx(0.96)
    assert generator_verdict(shared.generator_cpu_share, 0.97)[0] == "locust"
    assert apart.generator_cpu_share == pytest.approx(0.48)
    assert generator_verdict(apart.generator_cpu_share, 0.97)[0] == "contended"
