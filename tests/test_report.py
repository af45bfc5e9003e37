"""Charts and report.html are pure functions of run.json: the data drawn is the data stored."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hdrh.histogram import HdrHistogram

from bench.charts import (
    all_charts,
    descriptors_zombies_chart,
    errors_chart,
    latency_spectrum_chart,
    spectrum_values,
    throughput_chart,
)
from bench.load import BEHIND
from bench.report import draw, lessons
from bench.store import SCHEMA_PATH


@pytest.fixture(autouse=True)
def close_figures():
    """Figures the tests draw are read, then closed (pyplot keeps them otherwise)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def histogram(values_us: list[int]) -> str:
    h = HdrHistogram(1, 120_000_000, 3)
    for value in values_us:
        h.record_value(value)
    return h.encode().decode("ascii")


def cell(
    server: str,
    workload: str,
    users: int,
    throughput: float,
    *,
    status: str = "ok",
    bound: bool = False,
    zombies: list[int] | None = None,
    fds: list[int] | None = None,
    failures: dict | None = None,
) -> dict:
    zombies = zombies or [0, 0, 0, 0, 0]
    fds = fds or [5, 5, 5, 5, 5]
    ok = status == "ok"
    load = (
        {
            "requests": int(throughput * 2),
            "failures": failures or {},
            "window_s": 2.0,
            "throughput": throughput,
            "latency_us": {
                "p50": 200.0,
                "p90": 300.0,
                "p99": 900.0,
                "p99.9": 1500.0,
                "p99.99": 2000.0,
                "mean": 250.0,
                "max": 2100.0,
            },
            "histogram": histogram([200] * 50 + [900] * 49 + [2000]),
            "client": "raw",
            "started": 100.0,
            "window": [100.15, 100.35],
            "generator_cpu_s": 1.0,
            "generator_cpu_share": 0.95 if bound else 0.5,
            "generator_cpus_busy": 0.96 if bound else 0.5,
            "processes": 1,
            "error": "",
        }
        if ok
        else None
    )
    return {
        "server": server,
        "workload": workload,
        "users": users,
        "mode": "keepalive",
        "repetition": 1,
        "key": f"{server}/{workload}/{users}u/keepalive/r1",
        "status": status,
        "reason": "" if ok else "verification failed: wrong body",
        "command": ["x"],
        "request_cap": None,
        "started": 0.0,
        "load": load,
        "generator_bound": bound,
        "generator_bound_reason": "locust used 95% of its CPU during the window" if bound else "",
        "window": {"origin": 100.0, "load_start": 0.1, "start": 0.15, "end": 0.35, "load_end": 0.36}
        if ok
        else None,
        "service_demand": {"cpu_s": 0.2, "requests": 1000, "us_per_request": 200.0} if ok else None,
        "wrk": None,
        "telemetry": {
            "interval_s": 0.1,
            "series": {
                "t": [0.0, 0.1, 0.2, 0.3, 0.4],
                "parent_fds": fds,
                "tree_fds": fds,
                "children": [0, 1, 2, 1, 0],
                "zombies": zombies,
                "threads": [1] * 5,
                "rss_bytes": [10 * 2**20] * 5,
                "cpu_s": [0.0, 0.1, 0.2, 0.3, 0.4],
            },
        }
        if ok
        else None,
        "leak": {
            "verdict": "leaks" if zombies[-1] > zombies[0] else "clean",
            "zombies_after": zombies[-1],
            "fds_left": fds[-1] - fds[0],
        }
        if ok
        else None,
        "listen_overflows": {"ListenOverflows": 0, "ListenDrops": 0} if ok else None,
        "server_output_tail": "",
    }


@pytest.fixture
def run() -> dict:
    settings = {
        "servers": ["asyncio", "fork", "fork_reap"],
        "workloads": ["hello"],
        "users": [1, 16],
        "modes": ["keepalive"],
        "duration_s": 2.0,
        "warmup_s": 0.5,
        "settle_s": 0.5,
        "repeat": 1,
        "request_cap": 2000,
        "cpu_split": True,
        "ceiling": True,
        "profile": "custom",
        "request_timeout_s": 5.0,
    }
    return {
        "metadata": {
            "schema_version": 3,
            "started": "2026-11-24T00:00:00",
            "commit": "abc123def",
            "dirty": False,
            "python": "3.11.7",
            "packages": {},
            "cpu_model": "test CPU",
            "cpu_count": 2,
            "kernel": "6",
            "machine": "x86_64",
            "affinity": {"server_cpus": [0], "generator_cpus": [1], "generator_processes": 1},
            "settings": settings,
        },
        "plan": {"settings": settings, "cells": [], "skipped": [], "notes": []},
        "status": "interrupted",
        "leftovers_found": [],
        "generator_ceiling": {
            "keepalive": {
                "server": "asyncio",
                "workload": "hello",
                "users": 16,
                "client": "raw",
                "throughput": 9000.0,
                "generator_cpu_share": 1.0,
                "processes": 1,
                "error": "",
            }
        },
        "cells": [
            cell("asyncio", "hello", 1, 4000.0),
            cell("asyncio", "hello", 16, 8800.0, bound=True),
            cell(
                "fork", "hello", 1, 300.0, zombies=[0, 100, 250, 400, 400], failures={"HTTP 503": 7}
            ),
            cell("fork", "hello", 16, 350.0, zombies=[0, 200, 500, 800, 800]),
            cell("fork_reap", "hello", 1, 0.0, status="failed"),
        ],
    }


def lines_by_gid(figure) -> dict:
    return {line.get_gid(): line for ax in figure.axes for line in ax.get_lines() if line.get_gid()}


def test_fixture_is_a_valid_run(run: dict) -> None:
    jsonschema.validate(run, json.loads(SCHEMA_PATH.read_text()))


def test_throughput_lines_are_the_stored_figures_and_bound_points_are_marked(run: dict) -> None:
    figure = throughput_chart(run)
    lines = lines_by_gid(figure)
    assert list(lines["asyncio|keepalive"].get_ydata()) == [4000.0, 8800.0]
    assert list(lines["fork|keepalive"].get_xdata()) == [1, 16]
    assert "fork_reap|keepalive" not in lines  # its only cell failed: nothing to draw
    bound = [
        c for ax in figure.axes for c in ax.collections if c.get_gid() == "bound|asyncio|keepalive"
    ]
    assert len(bound) == 1 and list(bound[0].get_offsets()[0]) == [16, 8800.0]
    assert "INTERRUPTED RUN" in figure._suptitle.get_text()


def test_zombie_and_descriptor_lines_are_the_stored_series(run: dict) -> None:
    lines = lines_by_gid(descriptors_zombies_chart(run))
    assert list(lines["fork|zombies"].get_ydata()) == [0, 200, 500, 800, 800]  # 16 users
    assert list(lines["asyncio|parent_fds"].get_ydata()) == [5, 5, 5, 5, 5]


def test_latency_spectrum_reads_the_histogram(run: dict) -> None:
    lines = lines_by_gid(latency_spectrum_chart(run, "hello", 1))
    values = dict(spectrum_values(run["cells"][0]))
    assert values[50] == pytest.approx(0.2, rel=0.01) and values[99.99] == pytest.approx(
        2.0, rel=0.01
    )
    assert list(lines["asyncio"].get_ydata()) == [v for _, v in spectrum_values(run["cells"][0])]


def test_errors_chart_counts_failures_and_failed_cells(run: dict) -> None:
    totals: dict[str, float] = {}
    for ax in errors_chart(run).axes:
        for patch in ax.patches:  # one bar per kind and row: add up each kind's
            totals[patch.get_gid()] = totals.get(patch.get_gid(), 0) + patch.get_width()
    assert totals == {"kind|HTTP 503": 7, "kind|cell failed": 1}


def test_every_chart_and_the_report_are_written(run: dict, tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(run))
    report = draw(tmp_path)
    for name in all_charts(run):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
        assert (tmp_path / f"{name}.svg").exists()
    page = report.read_text()
    assert "interrupted" in page and "FAILED: verification failed" in page
    assert "generator-bound" in page and page.count("data:image/png;base64,") == len(
        all_charts(run)
    )
    assert "http://" not in page.replace("http://www.w3.org", "")  # nothing fetched from a network


def test_lessons_quote_the_measured_figures(run: dict) -> None:
    found = lessons(run)
    assert any(line.startswith("fork: 800 zombies at the end of one cell") for line in found)


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


def test_micro_benchmarks_join_the_report(run: dict, tmp_path: Path) -> None:
    from bench.charts import micro_chart

    widths = {
        patch.get_y(): patch.get_width() for ax in micro_chart(MICRO).axes for patch in ax.patches
    }
    assert sorted(widths.values()) == pytest.approx([250.0, 2000.0])  # medians, in µs
    (tmp_path / "run.json").write_text(json.dumps(run))
    (tmp_path / "micro.json").write_text(json.dumps(MICRO))
    page = draw(tmp_path).read_text()
    assert (tmp_path / "micro.png").exists()
    assert "<td>fork</td><td>2,000.0</td>" in page


def repeated(run: dict) -> dict:
    """The fixture with three repetitions of asyncio and fork at 1 user, and open-loop cells."""
    extra = []
    for repetition, (fast, slow) in enumerate(((4100.0, 310.0), (3900.0, 290.0)), start=2):
        for template, value in ((run["cells"][0], fast), (run["cells"][2], slow)):
            copy = json.loads(json.dumps(template))
            copy["repetition"], copy["load"]["throughput"] = repetition, value
            extra.append(copy)
    opened = json.loads(json.dumps(run["cells"][1]))
    opened["generator_bound"], opened["rate"] = False, 200.0
    opened["load"].update(
        offered_rate=200.0,
        throughput=199.0,
        latency_us={**opened["load"]["latency_us"], "p99": 950_000.0},
        service_latency_us={"p50": 200.0, "p99": 1200.0},
        failures={BEHIND: 3},
    )
    return {**run, "cells": run["cells"] + extra + [opened]}


def test_repetitions_give_intervals_and_a_ranking(run: dict, tmp_path: Path) -> None:
    document = repeated(run)
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    figure = throughput_chart(document)
    assert list(lines_by_gid(figure)["asyncio|keepalive"].get_ydata()) == [4000.0, 8800.0]
    (interval,) = [
        c
        for ax in figure.axes
        for c in ax.containers
        if c.get_label() == "_interval|asyncio|keepalive"
    ]
    segments = interval.lines[2][0].get_segments()
    assert [list(point) for point in segments[0]] == [[1, 3900.0], [1, 4100.0]]
    (tmp_path / "run.json").write_text(json.dumps(document))
    page = draw(tmp_path).read_text()
    assert "4,000 <small>[3,900 to 4,100]</small>" in page  # the median and its interval
    assert "faster (significant)" in page  # asyncio's range is far above fork's
    assert "Not ranked (generator-bound" in page  # asyncio at 16 users
    assert "open 200/s" in page and "950.00" in page and "1.20" in page  # corrected, uncorrected
    assert (tmp_path / "open-loop.png").stat().st_size > 1000
