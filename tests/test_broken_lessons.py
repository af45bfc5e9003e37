"""Each lesson reads "not shown" for the broken variant nearest to it, measured.

One short harness run measures deliberately broken servers: catalog rows that run a
neighbouring model (or a faulty application) under a lesson's name, such as a thread per
connection where the lesson is one connection at a time. For each lesson, the run in which every
lesson shows (tests/synthetic.py) gets its model's cells replaced by the broken variant's
measured cells; the lesson must then read "not shown", for the reason the variant breaks.
(A default run shows every lesson with the real servers: README, results/reference.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.catalog import SERVERS, ServerSpec
from bench.plan import Settings, build_plan
from bench.report.lessons import judge
from bench.run import Runner
from tests.conftest import live_descendants
from tests.synthetic import lessons_run, record
from tests.test_harness import valid_run

# one worker runs the module: its harness run (`measured`) is made once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("broken_lessons")]

SLOW = "tests.apps:slow"  # the plain app after a blocking 0.36 s
# The broken rows, each with the one workload it is measured on.
BROKEN = {
    spec.name: (spec, workload)
    for spec, workload in (
        (  # a socket loop whose answers are sometimes wrong
            ServerSpec(
                "x-iterative-500",
                "iterative, a 500 every 200 requests",
                "ours",
                "iterative",
                app="tests.apps:rare_500",
                one_at_a_time=True,
            ),
            "hello",
        ),
        (  # Django behind a server that breaks PEP 3333's environ
            ServerSpec(
                "x-threaded-no-path",
                "threaded, no PATH_INFO",
                "ours",
                "threaded",
                app="tests.apps:django_without_path_info",
            ),
            "django",
        ),
        (  # concurrent, yet as slow for its 16 clients as one connection at a time
            ServerSpec("x-threaded-slow", "threaded, 0.36 s", "ours", "threaded", app=SLOW),
            "io",
        ),
        (  # the same, with sleep's --sleep for the lesson to read (threaded does not use it)
            ServerSpec(
                "x-threaded-slow-sleep",
                "threaded, 0.36 s",
                "ours",
                "threaded",
                ("--sleep", "0.02"),
                app=SLOW,
            ),
            "hello",
        ),
        (ServerSpec("x-threaded", "threaded", "ours", "threaded"), "io"),
        (ServerSpec("x-iterative", "iterative", "ours", "iterative", one_at_a_time=True), "io"),
        (  # forks and reaps everything
            ServerSpec(
                "x-fork_reap", "fork_reap", "ours", "fork_reap", ("--backlog", "1024"), leaking=True
            ),
            "hello",
        ),
        (  # forks, reaps nothing, closes its copy of each socket
            ServerSpec("x-fork", "fork", "ours", "fork", leaking=True, nofile=256),
            "hello",
        ),
        (  # never forks
            ServerSpec("x-iterative-hello", "iterative", "ours", "iterative", one_at_a_time=True),
            "hello",
        ),
    )
}

# lesson's model: (the broken row measured in its place, the variant, what its verdict must say)
VARIANTS = {
    "basic": ("x-iterative-500", "answers wrong now and then", "wrongly or not at all"),
    "iterative": ("x-threaded-slow", "concurrent but as slow", "request(s) in progress at once"),
    "sleep": ("x-threaded-slow-sleep", "concurrent but as slow", "request(s) in progress at once"),
    "fork": ("x-fork_reap", "reaps every child", "zombies after"),
    "fork_leak": ("x-fork", "closes its copy of each socket", "EMFILE"),
    "fork_wait": ("x-fork", "reaps nothing", "reaping none would leave"),
    "fork_reap": ("x-iterative-hello", "never forks", "seen alive in 0 of them"),
    "asyncio": ("x-threaded", "blocking views that overlap", "served inline"),
    "threaded": ("x-iterative", "one connection at a time", "views at once"),
    "prefork": ("x-threaded", "more views at once than workers", "views at once"),
}
EXTRA = {"fork_wait": ("x-fork_reap", "reaps every child", "zombies left of")}


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """The broken rows' cells, from one harness run: 16 users, 1.5 s windows."""
    folder: Path = tmp_path_factory.mktemp("broken")
    saved = dict(SERVERS)
    SERVERS.update({name: spec for name, (spec, _) in BROKEN.items()})
    try:
        settings = Settings(
            servers=tuple(BROKEN),
            workloads=("hello", "django", "io"),
            users=(16,),
            duration_s=1.5,
            warmup_s=0.3,
            settle_s=0.2,
            ceiling=False,
            lesson_workloads=(),
            wrk_bound_cells=False,
        )
        plan = build_plan(settings)
        plan.cells = [c for c in plan.cells if BROKEN[c.server][1] == c.workload and not c.rate]
        assert Runner(plan, folder, quiet=True).run() == 0
    finally:
        SERVERS.clear()
        SERVERS.update(saved)
    assert not live_descendants()
    cells: dict[str, list[dict]] = {}
    for cell in valid_run(folder)["cells"]:
        cells.setdefault(cell["server"], []).append(cell)
    assert cells.keys() == BROKEN.keys()
    return cells


def in_place(model: str, cells: list[dict]) -> dict:
    """The run in which every lesson shows, with `model`'s cells replaced by `cells`."""
    run = lessons_run(True)
    assert {lesson.model: lesson.shown for lesson in judge(record(run))}[model] is True
    run["cells"] = [c for c in run["cells"] if c["server"] != model] + [
        {**cell, "server": model} for cell in cells
    ]
    return run


@pytest.mark.parametrize(
    ("model", "row", "variant", "said"),
    [(model, *found) for model, found in VARIANTS.items()]
    + [(model, *found) for model, found in EXTRA.items()],
)
def test_a_lesson_reads_not_shown_for_its_nearest_broken_server(
    measured: dict[str, list[dict]], model: str, row: str, variant: str, said: str
) -> None:
    lesson = {lesson.model: lesson for lesson in judge(record(in_place(model, measured[row])))}[
        model
    ]
    assert lesson.shown is False, f"{model} ({variant}): {lesson.evidence}"
    assert lesson.verdict.startswith("not shown:") and said in lesson.evidence


def test_django_on_a_server_that_breaks_the_environ_reads_not_shown(
    measured: dict[str, list[dict]],
) -> None:
    """wsgi's lesson counts every django cell: one from a server that leaves PATH_INFO out
    (failed at verification, or answered 404s) counts against it."""
    run = lessons_run(True)
    assert {lesson.model: lesson.shown for lesson in judge(record(run))}["every model"] is True
    run["cells"] += [{**cell, "server": "threaded"} for cell in measured["x-threaded-no-path"]]
    lesson = {lesson.model: lesson for lesson in judge(record(run))}["every model"]
    assert lesson.shown is False and "Django answered right on 2 of 3 servers" in lesson.evidence


@pytest.mark.parametrize("model", ["iterative", "sleep"])
def test_only_the_servers_own_count_tells_concurrent_but_slow_apart(
    measured: dict[str, list[dict]], model: str
) -> None:
    """Its throughput and its clients' wait are within the one-at-a-time lesson's bounds: were
    its count 1, the lesson would read shown."""
    row = VARIANTS[model][0]
    counted_one = [{**c, "server_reports": {"most_in_progress": 1}} for c in measured[row]]
    lesson = {lesson.model: lesson for lesson in judge(record(in_place(model, counted_one)))}[model]
    assert lesson.shown is True, lesson.evidence
