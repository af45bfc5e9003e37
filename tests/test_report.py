"""Charts and report.html are pure functions of run.json: the data drawn is the data stored,
every sentence comes from the run, and no bar stands on a logarithmic axis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import Rectangle

from bench.contract import BEHIND
from bench.launch import REPO_ROOT
from bench.report import draw, redraw
from bench.report.charts import (
    all_charts,
    errors_chart,
    latency_spectrum_chart,
    micro_chart,
    process_tree_chart,
    spectrum_values,
    throughput_chart,
)
from bench.report.lessons import judge
from bench.store import SCHEMA_PATH
from tests.synthetic import cell, lessons_run, record
from tests.synthetic import run as make_run


@pytest.fixture(autouse=True)
def close_figures():
    """Figures the tests draw are read, then closed (pyplot keeps them otherwise)."""
    yield
    plt.close("all")


def base_run() -> dict:
    return make_run(
        [
            cell("asyncio", "hello", 1, 4000.0),
            cell("asyncio", "hello", 16, 8800.0, bound=True),
            cell(
                "fork", "hello", 1, 300.0, zombies=[0, 100, 250, 400, 400], failures={"HTTP 503": 7}
            ),
            cell("fork", "hello", 16, 350.0, zombies=[0, 200, 500, 800, 800]),
            cell("fork_reap", "hello", 1, 0.0, status="failed"),
        ],
        status="interrupted",
    )


@pytest.fixture
def run() -> dict:
    return base_run()


def repeated(run: dict) -> dict:
    """Five runs each of asyncio and fork_reap at 16 users, and an open-loop cell."""
    extra = [
        cell(server, "hello", 16, value, repetition=repetition, demand_us=demand)
        for server, values, demand in (
            ("threaded", (4000.0, 4100.0, 3900.0, 4050.0, 3950.0), 90.0),
            ("fork_reap", (300.0, 310.0, 290.0, 305.0, 295.0), 4000.0),
        )
        for repetition, value in enumerate(values, start=1)
    ]
    extra += [
        cell("asyncio", "hello", 16, 8800.0, repetition=r, bound=True, demand_us=70.0)
        for r in range(2, 6)
    ]
    opened = cell("asyncio", "hello", 16, 199.0, rate=200.0)  # 398 answers counted
    opened["load"].update(
        due=2000,
        censored=30,
        censored_above_us=2_000_000.0,
        latency_us={**opened["load"]["latency_us"], "p99": None, "max": None, "mean": None},
        service_latency_us={"p50": 200.0, "p90": 300.0, "p99": 1200.0},
        send_lag_us={"p50": 100.0, "p99": 1500.0},
        failures={BEHIND: 30},
    )
    return {**run, "cells": run["cells"] + extra + [opened]}


@pytest.fixture(scope="module")
def drawn_repeated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """repeated(run)'s folder drawn once, with its exports (redraw: report.html, charts, CSV and
    .hgrm); the answer's test and the exports' read it."""
    folder = tmp_path_factory.mktemp("repeated")
    (folder / "run.json").write_text(json.dumps(repeated(base_run())))
    return folder, redraw(folder, hgrm=True)


def valid(document: dict) -> None:
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))


def lines_by_gid(figure) -> dict:
    return {line.get_gid(): line for ax in figure.axes for line in ax.get_lines() if line.get_gid()}


def test_the_fixtures_are_valid_runs(run: dict) -> None:
    valid(run)
    valid(repeated(run))
    valid(lessons_run(True))


def test_throughput_dots_are_the_stored_medians_and_bound_ones_are_hollow(run: dict) -> None:
    lines = lines_by_gid(throughput_chart(record(repeated(run))))
    assert list(lines["throughput|hello|threaded"].get_xdata()) == [4000.0]
    assert list(lines["throughput|hello|fork_reap"].get_xdata()) == [300.0]
    assert lines["throughput|hello|asyncio"].get_markerfacecolor() == "white"  # generator-bound
    assert lines["throughput|hello|threaded"].get_markerfacecolor() != "white"


def test_zombie_and_descriptor_lines_are_the_stored_series(run: dict) -> None:
    lines = lines_by_gid(process_tree_chart(record(run)))
    assert list(lines["fork|zombies"].get_ydata()) == [0, 200, 500, 800, 800]  # 16 users
    assert list(lines["asyncio|parent_fds"].get_ydata()) == [5, 5, 5, 5, 5]


def test_the_spectrum_stops_where_the_answers_do_not_hold_a_percentile(run: dict) -> None:
    """100 answers hold p50 to p90 (10 answers past it), not p95 (5) or beyond."""
    values = dict(spectrum_values(record(run).cells[0]))
    assert sorted(values) == [50, 75, 90]
    assert values[50] == pytest.approx(0.2, rel=0.01)
    lines = lines_by_gid(latency_spectrum_chart(record(run), "hello", 1))
    assert list(lines["asyncio"].get_ydata()) == [
        v for _, v in spectrum_values(record(run).cells[0])
    ]


def test_errors_chart_counts_failures_and_failed_cells(run: dict) -> None:
    totals: dict[str, float] = {}
    for ax in errors_chart(record(run)).axes:
        for patch in ax.patches:  # one bar per kind and row: add up each kind's
            totals[patch.get_gid()] = totals.get(patch.get_gid(), 0) + patch.get_width()
    assert totals == {"kind|HTTP 503": 7, "kind|cell failed": 1}


MICRO = {
    "benchmarks": [
        {
            "group": "round trip, new connection",
            "name": "test_new_connection[fork]",
            "extra_info": {"model": "fork"},
            "stats": {"median": 2.0e-3, "iqr": 1.0e-4, "rounds": 200},
        },
        {
            "group": "round trip, new connection",
            "name": "test_new_connection[asyncio]",
            "extra_info": {"model": "asyncio"},
            "stats": {"median": 2.5e-4, "iqr": 2.0e-5, "rounds": 500},
        },
    ]
}


def test_no_bar_stands_on_a_logarithmic_axis(run: dict) -> None:
    figures = [*all_charts(record(repeated(run))).values(), micro_chart(MICRO)]
    for figure in figures:
        for ax in figure.axes:
            if "log" in (ax.get_xscale(), ax.get_yscale()):
                bars = [p for p in ax.patches if isinstance(p, Rectangle)]
                assert not bars, f"bars on a log axis: {figure._suptitle.get_text()[:60]}"


def test_micro_dots_are_the_medians(run: dict, tmp_path: Path) -> None:
    lines = lines_by_gid(micro_chart(MICRO))
    assert list(lines["micro|round trip, new connection|fork"].get_xdata()) == [2000.0]
    assert list(lines["micro|round trip, new connection|asyncio"].get_xdata()) == [250.0]
    (tmp_path / "run.json").write_text(json.dumps(run))
    (tmp_path / "micro.json").write_text(json.dumps(MICRO))
    page = draw(tmp_path).read_text()
    assert (tmp_path / "micro.png").exists()
    assert "<td class=''>fork</td><td class='n'>2,000.0</td>" in page


def test_every_chart_and_the_report_are_written(run: dict, tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(run))
    report = draw(tmp_path)
    for name in all_charts(record(run)):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    page = report.read_text()
    assert "interrupted" in page and "FAILED: verification failed" in page
    assert "generator-bound" in page and page.count("data:image/png;base64,") == len(
        all_charts(record(run))
    )
    assert "http://" not in page.replace("http://www.w3.org", "")  # nothing fetched from a network


def test_the_report_opens_with_the_answer_built_from_the_runs(
    drawn_repeated: tuple[Path, list[Path]],
) -> None:
    folder, written = drawn_repeated
    assert written[0] == folder / "report.html"
    page = written[0].read_text()
    answer = page[page.index("<h2>The answer</h2>") : page.index("<h2>Lessons from this run</h2>")]
    assert page.index("<h2>The answer</h2>") < page.index("<h2>Measured once</h2>")
    # five runs each: threaded leads, by its median, with the range of its five runs
    assert "threaded leads with 4,000 requests/s (range of 5 runs 3,900 to 4,100)" in answer
    assert "fork_reap 300 (13.3x slower)" in answer
    # the exact test, 5 against 5, within Holm's level for the table's one test
    assert "slower than threaded (p = 0.0079, at most 0.0500: Holm over 1)" in answer
    assert "95 %" not in answer  # five runs: a range, never an interval called 95 %
    # asyncio was generator-bound: not ranked, its cost per request said instead
    assert "locust could not measure asyncio" in answer and "asyncio 70 µs" in answer
    assert "more than any server locust could measure (8,800 at the least)" in answer
    # the open loop: the p99 fell among requests never answered: more than the limit
    opened = page[page.index("<h2>Open loop</h2>") : page.index("<h2>wrk beside locust</h2>")]
    assert "2,000 / 398 / 30" in opened  # due, answered, never answered in time
    assert "&gt; 2 s" in opened and "1.50" in opened  # p99 censored; the send lag's p99


def test_a_run_in_which_every_lesson_fails_reads_not_shown_throughout(tmp_path: Path) -> None:
    failing, showing = judge(record(lessons_run(False))), judge(record(lessons_run(True)))
    assert len(failing) == len(showing) == 11
    assert [lesson.verdict.startswith("not shown:") for lesson in failing] == [True] * 11
    assert [lesson.verdict for lesson in showing] == ["shown"] * 11
    (tmp_path / "run.json").write_text(json.dumps(lessons_run(False)))
    page = draw(tmp_path).read_text()
    section = page[page.index("<h2>Lessons from this run</h2>") : page.index("<h2>Measured once")]
    assert section.count("not shown:") == 11 and "class='shown'" not in section


def test_the_lessons_quote_their_figures() -> None:
    lessons = {lesson.model: lesson for lesson in judge(record(lessons_run(True)))}
    assert lessons["fork"].evidence.startswith("601 zombies after 601 connections")
    assert "failed 8 times with EMFILE" in lessons["fork_leak"].evidence
    assert "437 zombies left of 601 children" in lessons["fork_wait"].evidence


def test_an_old_or_broken_run_is_refused_in_one_line(run: dict, tmp_path: Path) -> None:
    def report(document: dict) -> subprocess.CompletedProcess:
        (tmp_path / "run.json").write_text(json.dumps(document))
        return subprocess.run(
            [sys.executable, "-m", "bench", "report", str(tmp_path)],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
        )

    done = report({**run, "metadata": {**run["metadata"], "schema_version": 2}})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "format version 2, and this code reads version 4" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    broken = json.loads(json.dumps(run))
    del broken["cells"][0]["load"]["throughput"]
    done = report(broken)
    assert done.returncode == 2 and "at cells/0/load: 'throughput' is a required" in done.stderr


def test_the_exports_are_the_runs_figures(
    run: dict, drawn_repeated: tuple[Path, list[Path]]
) -> None:
    import csv

    folder, written = drawn_repeated
    assert folder / "cells.csv" in written and folder / "ranking.csv" in written
    cells = list(csv.DictReader((folder / "cells.csv").open()))
    assert len(cells) == len(repeated(run)["cells"])
    assert cells[0]["key"] == "asyncio/hello/1u/keepalive/r1" and cells[0]["throughput"] == "4000.0"
    ranking = list(csv.DictReader((folder / "ranking.csv").open()))
    first = next(row for row in ranking if row["place"] == "1")
    assert (first["server"], first["median_throughput"], first["runs"]) == (
        "threaded",
        "4000.0",
        "5",
    )
    assert first["spread"] == "range of 5 runs 3,900 to 4,100"
    hgrm = sorted((folder / "hgrm").glob("*.hgrm"))
    assert len(hgrm) == sum(1 for c in repeated(run)["cells"] if c.get("load"))
    assert "Percentile" in hgrm[0].read_text()


def test_a_lesson_reads_one_load_level_and_every_cell_of_a_server() -> None:
    """iterative measured on io at 1 user too (alone, it waits for nobody): the lesson reads its
    16-user cells only. A server with one clean Django cell and one failing is not clean."""
    run = lessons_run(True)
    run["cells"].insert(0, cell("iterative", "io", 1, 95, p50_us=10_500))
    lessons = {lesson.model: lesson for lesson in judge(record(run))}
    assert lessons["iterative"].shown and "io at 16 users" in lessons["iterative"].evidence
    run["cells"].append(cell("asyncio", "django", 16, 900, failures={"HTTP 500": 5}))
    wsgi = next(lesson for lesson in judge(record(run)) if lesson.program == "wsgiserver")
    assert not wsgi.shown and "on 1 of 2 servers (iterative)" in wsgi.evidence


def test_the_fork_lessons_read_the_cell_with_the_most_users() -> None:
    """A 1-user fork_wait cell before the 16-user one, whose signals hardly coalesce: every
    child reaped (it alone would read "not shown"). The lesson reads the burstier 16-user cell,
    and says "1 user" where it reads one."""
    run = lessons_run(True)
    run["cells"].insert(0, cell("fork_wait", "hello", 1, 250, sent=600))
    lessons = {lesson.model: lesson for lesson in judge(record(run))}
    assert lessons["fork_wait"].shown
    assert "437 zombies left of 601 children (16 users at once" in lessons["fork_wait"].evidence
    run["cells"] = [c for c in run["cells"] if not (c["server"] == "fork_wait" and c["users"] > 1)]
    alone = {lesson.model: lesson for lesson in judge(record(run))}["fork_wait"]
    assert not alone.shown and "(1 user at once;" in alone.evidence


def test_the_answer_says_whose_work_took_the_generators_cpu(run: dict) -> None:
    from bench.report.answer import answer

    document = repeated(run)
    for stored in document["cells"]:
        if stored["server"] == "asyncio" and stored["generator_bound"]:
            stored["generator_bound_cause"] = "contended"
    (level,) = [lv for lv in answer(record(document))[0] if lv.users == 16]
    said = " ".join(level.sentences())
    assert "or (for asyncio) other work took its CPUs" in said


def test_no_cpu_figure_is_printed_finer_than_its_counter() -> None:
    from bench.stats import cpu_us

    assert cpu_us(7.63, 0.0002) == "7.6"  # µs counter over thousands of requests
    assert cpu_us(74.4, 0.0002) == "74"
    assert cpu_us(300.2, 0.3) == "300"
    assert cpu_us(615.4, 153.8) == "615 ± 154"  # 10 ms ticks over 130 requests (8 ticks)
    assert cpu_us(615.4, 307.7) == "≤ 923"  # over 65 requests: 4 ticks, a bound
    assert cpu_us(125.0, 100.0) == "≤ 225"  # fewer than five ticks in the window


@pytest.mark.parametrize(
    ("resolution_us", "asyncio", "said"),
    [
        (1.0, (70.0, 70.5, 71.0, 71.5, 72.0, 72.5), "1. asyncio 71 µs; 2. threaded 82 µs"),
        (1.0, (70.0, 75.0, 80.0, 85.0, 90.0, 95.0), "(none told apart from "),
        (10_000.0, (70.0, 70.5, 71.0, 71.5, 72.0, 72.5), "counted too coarsely to rank"),
    ],
)
def test_generator_bound_servers_are_ranked_by_cpu_only_where_runs_and_counter_allow(
    resolution_us: float, asyncio: tuple[float, ...], said: str
) -> None:
    """Two generator-bound servers about 10 µs a request apart, 6 runs each: a µs counter
    and runs apart rank them; runs that overlap share a tier; 10 ms ticks over 200 requests
    (± 100 µs) rank nothing, and each figure reads as a bound."""
    from bench.report.answer import answer

    cells = [
        cell(
            server,
            "hello",
            16,
            100.0,
            repetition=r,
            bound=True,
            demand_us=demand,
            **{"resolution_us": resolution_us},
        )
        for server, demands in (
            ("asyncio", asyncio),
            ("threaded", (80.0, 81.0, 82.0, 83.0, 84.0, 85.0)),
        )
        for r, demand in enumerate(demands, start=1)
    ]
    (level,), _ = answer(record(make_run(cells)))
    sentences = " ".join(level.sentences())
    assert said in sentences
    assert ("asyncio ≤ 171 µs" in sentences) is (resolution_us > 1)  # 71 + 100: under 5 ticks


def test_page_faults_that_tell_servers_apart_are_said_in_the_answer(run: dict) -> None:
    from bench.report.answer import answer

    cells = [
        cell(server, "hello", 16, value, repetition=r, demand_us=demand, faults=faults)
        for server, value, demand, faults in (
            ("threaded", 4000.0, 90.0, 0.2),
            ("fork_reap", 300.0, 2000.0, 520.0),
        )
        for r in range(1, 4)
    ]
    (level,), _ = answer(record(make_run(cells)))
    said = " ".join(level.sentences())
    assert "Page faults a request: fork_reap 520, user 1,000 µs and system 1,000 µs" in said
    assert "against 0.2 for threaded" in said
    same = [c for c in cells if c["server"] == "threaded"]
    (level,), _ = answer(record(make_run(same)))
    assert "Page faults" not in " ".join(level.sentences())


def test_model_checks_are_counted_apart_from_consistency_checks() -> None:
    """The near-identities of a closed loop (Little's law, the window asked) check the
    measurement, not a model: the report counts them under their own name."""
    from bench.checks import run_checks
    from bench.report.html import checks_section

    run = lessons_run(True)
    checks = run_checks(record(run))
    model = [c for c in checks if not c.consistency]
    consistency = [c for c in checks if c.consistency]
    assert {c.name for c in consistency} == {"little's law", "window as asked"}
    assert model and {c.name for c in model} >= {"at most 1 / sleep", "zero zombies"}
    text = checks_section(record(run))
    for found, what in ((model, "model"), (consistency, "consistency")):
        passed = sum(c.passed for c in found)
        assert f"{passed} of {len(found)} {what} checks passed" in text


def test_noisy_servers_are_named_in_the_answer() -> None:
    from bench.report.answer import answer

    steady = [
        cell("threaded", "hello", 16, v, repetition=r) for r, v in enumerate((400, 401, 402), 1)
    ]
    noisy = [
        cell("fork_reap", "hello", 16, v, repetition=r) for r, v in enumerate((100, 150, 200), 1)
    ]
    (level,), _ = answer(record(make_run(steady + noisy)))
    said = " ".join(level.sentences())
    assert (
        "Noisy (their runs' throughput varies by more than 5% of its mean): fork_reap (33%)" in said
    )
    assert "threaded (" not in said.split("Noisy")[1]


@pytest.mark.parametrize(
    ("variant", "model"),
    [
        ("never forks", "fork_reap"),  # no zombie because no child: not the lesson
        ("a cell failed", "fork_reap"),
        ("reaps everything", "fork_wait"),
        ("reaps nothing", "fork_wait"),
        ("a cell failed", "fork"),
    ],
)
def test_each_fork_lesson_reads_not_shown_for_its_nearest_broken_variant(
    variant: str, model: str
) -> None:
    run = lessons_run(True)
    assert {lesson.model: lesson.shown for lesson in judge(record(run))}[model]
    mine = next(c for c in run["cells"] if c["server"] == model)
    if variant == "never forks":
        mine["telemetry"]["series"]["children"] = [0] * 5
    elif variant == "a cell failed":
        run["cells"].append(cell(model, "hello", 16, 0.0, status="failed"))
    elif variant == "reaps everything":
        mine["leak"]["zombies_after"] = 0
    else:  # reaps nothing: the fewest zombies fork leaves (its last users never accepted)
        mine["leak"]["zombies_after"] = mine["load"]["sent"] + 1 - mine["users"]
    lesson = {lesson.model: lesson for lesson in judge(record(run))}[model]
    assert lesson.shown is False and lesson.verdict.startswith("not shown:"), lesson.evidence


@pytest.mark.parametrize("ran_out", ["generator", "both"])
def test_a_cost_measured_short_of_saturation_is_said(ran_out: str) -> None:
    from bench.report.answer import answer

    cells = [
        cell(server, "hello", 16, 100.0, repetition=r, bound=True, demand_us=demand + r)
        for server, demand in (("asyncio", 70.0), ("threaded", 90.0))
        for r in range(1, 7)
    ]
    for stored in cells:
        stored["saturation"]["ran_out"] = ran_out
    (level,), _ = answer(record(make_run(cells)))
    said = " ".join(level.sentences())
    assert ("asyncio, threaded were not saturated in any run" in said) is (ran_out != "both")


@pytest.mark.parametrize("model", ["iterative", "sleep"])
def test_one_at_a_time_reads_not_shown_for_a_concurrent_server_as_slow(model: str) -> None:
    """A server as slow as iterative (or sleep), whose clients wait as long, but which had two
    requests in progress at once by its own count: its latency alone would pass the lesson."""
    run = lessons_run(True)
    assert {lesson.model: lesson.shown for lesson in judge(record(run))}[model]
    workload = "io" if model == "iterative" else "hello"
    mine = next(c for c in run["cells"] if (c["server"], c["workload"]) == (model, workload))
    mine["server_reports"] = {"most_in_progress": 2}
    lesson = {lesson.model: lesson for lesson in judge(record(run))}[model]
    assert lesson.shown is False and "at most 2 request(s) in progress" in lesson.evidence
    del mine["server_reports"]["most_in_progress"]  # no count: latency alone does not show it
    assert {lesson.model: lesson.shown for lesson in judge(record(run))}[model] is False


@pytest.mark.parametrize(
    ("model", "workload", "only"),
    [
        ("basic", "hello", False),
        ("iterative", "io", False),
        ("sleep", "hello", False),
        ("fork_wait", "hello", False),
        ("fork_leak", "hello", True),
        ("asyncio", "io", False),
        ("asyncio-asgi", "io", True),
        ("threaded", "io", True),
        ("prefork", "io", False),
    ],
)
def test_a_failed_cell_counts_against_its_lesson(model: str, workload: str, only: bool) -> None:
    """Beside cells that show it, or in place of them (`only`): a lesson whose every cell
    failed reads "not shown", not "not measured"."""
    run = lessons_run(True)
    judged = "asyncio" if model == "asyncio-asgi" else model
    if only:
        run["cells"] = [c for c in run["cells"] if c["server"] != model]
    run["cells"].append(cell(model, workload, 16, 0.0, status="failed"))
    lesson = {lesson.model: lesson for lesson in judge(record(run))}[judged]
    assert lesson.shown is False and "cell(s) failed" in lesson.evidence, lesson.evidence


def test_summary_md_holds_the_answer_the_lessons_and_the_scenario_tables(
    drawn_repeated: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    """summary.md, written beside report.html, says what the report's answer says, in
    Markdown tables, and adds each scenario's table from the scenario's own JSON."""
    from bench.report.summary import summary

    folder, written = drawn_repeated
    assert folder / "summary.md" in written
    text = (folder / "summary.md").read_text()
    assert "threaded leads with 4,000 requests/s (range of 5 runs 3,900 to 4,100)" in text
    assert "| 1 | threaded | 4,000 | range of 5 runs 3,900 to 4,100 | 1.00x |" in text
    assert "| 2 | fork_reap | 300 | range of 5 runs 290 to 310 | 13.3x |" in text
    assert "| concurrentserver | fork |" in text and "## Scenarios" not in text
    (tmp_path / "scenarios").mkdir()
    row = {
        "model": "asyncio",
        "failure": "",
        "throughput_without": 9000.0,
        "throughput_with": 6750.0,
        "throughput_ratio": 0.75,
        "p50_ms_without": 0.4,
        "p50_ms_with": 0.5,
        "p99_ms_without": 6.0,
        "p99_ms_with": None,
        "verdict": "held up",
    }
    (tmp_path / "scenarios" / "slowclients.json").write_text(json.dumps({"summary": [row]}))
    text = summary(record(repeated(base_run())), tmp_path)
    assert "### Slow clients\n\nNormal users' throughput without and with slow clients" in text
    assert "| asyncio | 9,000 | 6,750 | 75% | 0.40 / 0.50 | 6.00 / - | held up |" in text


def test_summary_tables_keep_plain_brackets_and_drop_only_rich_markup() -> None:
    """The answer's and the lessons' cells are plain text, kept as they are; a rich table's
    cells are markup, read as rich renders them."""
    from rich.table import Table

    from bench.report.summary import from_rich, markdown_table

    assert "| [host: b'h'] \\| x |" in markdown_table(["cell"], [["[host: b'h'] | x"]])
    table = Table(title="[bold]T[/]")
    table.add_column("a")
    table.add_row("[red]failed[/] [2 runs]")
    assert from_rich(table) == "T\n\n| a |\n|---|\n| failed [2 runs] |"
