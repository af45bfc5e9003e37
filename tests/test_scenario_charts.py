"""The scenario charts are pure functions of small fixed documents; the scenario commands
explain their options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report.scenario_charts import crosscheck_chart, draw, scale_chart, slowclients_chart


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def scale_step(model: str, kind: str, held: int, backlog: int, rss: float, fds: float) -> dict:
    return {
        "model": model,
        "kind": kind,
        "connections": held + backlog,
        "held": held,
        "in_backlog": backlog,
        "closed_by_server": 0,
        "not_attempted": 0,
        "errors": {},
        "failure": "",
        "rss_mib": rss,
        "uss_per_connection_kib": 4.0,
        "descriptors_per_connection": fds,
        "sample": {"asked": 4, "answered": 4 if held > 1 else 1},
    }


SCALE = {
    "descriptor_limit": 20000,
    "steps": [
        scale_step("asyncio", "one event loop", 100, 0, 25.0, 1.0),
        scale_step("asyncio", "one event loop", 1000, 0, 29.0, 1.0),
        scale_step("iterative", "one at a time", 1, 99, 17.0, 1.0),
        scale_step("fork_reap", "a process per connection", 20, 0, 280.0, 4.0),
    ],
}
SLOW = {
    "settings": {"slow": 2, "users": 3, "duration_s": 1.0},
    "summary": [
        {
            "model": "iterative",
            "throughput_without": 4000.0,
            "throughput_with": 0.0,
            "throughput_ratio": 0.0,
            "verdict": "stalled",
            "failure": "",
        },
        {
            "model": "asyncio",
            "throughput_without": 7000.0,
            "throughput_with": 6500.0,
            "throughput_ratio": 6500 / 7000,
            "verdict": "held up",
            "failure": "",
        },
    ],
}
CROSS = {
    "cells": [
        {
            "server": "asyncio",
            "users": 8,
            "close": False,
            "locust": {"throughput": 4000.0, "latency_us": {"p50": 1100.0, "p99": 7900.0}},
            "wrk": {"throughput": 14000.0, "latency_us": {"p50": 290.0, "p99": 5200.0}},
        }
    ]
}


def test_scale_chart_draws_rss_against_connections_held() -> None:
    figure = scale_chart(SCALE)
    rss_ax = figure.axes[0]
    lines = {line.get_gid(): line for line in rss_ax.get_lines()}
    assert list(lines["asyncio"].get_xdata()) == [100, 1000]
    assert list(lines["asyncio"].get_ydata()) == [25.0, 29.0]
    assert list(lines["iterative"].get_xdata()) == [100]  # open: 1 held + 99 in the backlog
    assert rss_ax.get_xscale() == "log"
    fds_lines = {line.get_gid(): line for line in figure.axes[2].get_lines()}
    assert list(fds_lines["fork_reap"].get_ydata()) == [4.0]
    assert "iterative" not in fds_lines  # nothing to divide by


def test_slowclients_chart_draws_both_phases_and_the_ratio() -> None:
    figure = slowclients_chart(SLOW)
    bars = {patch.get_gid(): patch for patch in figure.axes[0].patches}
    assert bars["asyncio|without"].get_height() == 7000.0
    assert bars["iterative|with"].get_height() == 0.5  # zero, drawn at the axis floor, and said
    assert any(text.get_text() == "0" for text in figure.axes[0].texts)
    ratios = [patch.get_height() for patch in figure.axes[1].patches]
    assert ratios == pytest.approx([0.0, 6500 / 7000])


def test_crosscheck_chart_draws_locust_beside_wrk() -> None:
    figure = crosscheck_chart(CROSS)
    heights = {p.get_gid(): p.get_height() for p in figure.axes[0].patches}
    assert heights == {"rate|locust": 4000.0, "rate|wrk": 14000.0}


def test_draw_writes_a_png_per_document(tmp_path: Path) -> None:
    for name, document in (
        ("scale.json", SCALE),
        ("slowclients.json", SLOW),
        ("crosscheck.json", CROSS),
    ):
        (tmp_path / name).write_text(json.dumps(document))
    written = draw(tmp_path)
    assert [p.name for p in written] == ["scale.png", "slowclients.png", "crosscheck.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)


@pytest.mark.parametrize(
    "module", ["bench.scenarios.scale", "bench.scenarios.slowclients", "bench.scenarios.crosscheck"]
)
def test_help_names_every_option_with_its_default(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "--models" in result.stdout or "--servers" in result.stdout
    assert "default" in result.stdout
