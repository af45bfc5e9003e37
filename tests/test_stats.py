"""Statistics over repetitions and model-expectation checks, against answers known in advance."""

from __future__ import annotations

import numpy as np
import pytest

from bench.checks import check_cell, sleep_of
from bench.stats import (
    bootstrap_interval,
    ranking,
    significant,
    summarise,
    variation,
)


def test_three_values_give_their_range_as_the_interval_of_the_median() -> None:
    # a resample's median is the smallest value with probability 7/27 > 2.5 %: so is the bound
    assert bootstrap_interval([30.0, 10.0, 20.0]) == (10.0, 30.0)
    assert bootstrap_interval([5.0]) == (5.0, 5.0)
    assert bootstrap_interval([7.0, 7.0, 7.0, 7.0]) == (7.0, 7.0)


def test_a_large_normal_sample_gives_the_textbook_interval_of_the_median() -> None:
    values = np.random.default_rng(42).normal(100.0, 10.0, 400)
    low, high = bootstrap_interval(values)
    half_width = 1.96 * 1.2533 * 10.0 / np.sqrt(400)  # the median's standard error, normal data
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.25)
    assert low < np.median(values) < high


def test_significance_needs_separated_values() -> None:
    assert significant([10, 11, 12], [20, 21, 22])
    assert significant([20, 21, 22], [10, 11, 12])
    assert not significant([10, 15, 20], [12, 17, 22])
    assert not significant([10], [20])  # one value each: no spread known, no claim


def test_variation_is_the_coefficient_of_variation() -> None:
    assert variation([100, 100, 100]) == 0
    assert variation([90, 100, 110]) == pytest.approx(0.1)
    assert variation([42]) == 0


def cell(server: str, throughput: float, repetition: int = 1, **extra) -> dict:
    load = {
        "throughput": throughput,
        "failures": {},
        "latency_us": {"p50": 1000.0, "p99": 2000.0, "mean": 1000.0},
    }
    return {
        "server": server,
        "workload": "hello",
        "users": 16,
        "mode": "keepalive",
        "repetition": repetition,
        "key": f"{server}/r{repetition}",
        "status": "ok",
        "load": load,
        "generator_bound": False,
        "request_cap": None,
        "command": [],
        "leak": None,
        **extra,
    }


def test_ranking_shares_places_between_servers_that_do_not_differ() -> None:
    run = {
        "cells": [cell("a", v, i) for i, v in enumerate((100, 101, 102))]
        + [cell("b", v, i) for i, v in enumerate((99, 103, 104))]
        + [cell("c", v, i) for i, v in enumerate((50, 51, 52))]
        + [cell("d", 900, 1, generator_bound=True)]
    }
    summaries = summarise(run)
    assert {s.server: s.n for s in summaries} == {"a": 3, "b": 3, "c": 3, "d": 1}
    places, unranked = ranking(summaries)
    assert [(r.place, r.summary.server) for r in places] == [(1, "b"), (1, "a"), (3, "c")]
    assert [r.differs_from_next for r in places] == [False, True, None]
    assert [s.server for s in unranked] == ["d"]  # the generator's figure is never ranked
    a = next(s for s in summaries if s.server == "a")
    assert (a.throughput.median, a.throughput.low, a.throughput.high) == (101, 100, 102)
    assert not a.noisy and next(s for s in summaries if s.server == "b").cv < 0.05


def test_littles_law_holds_and_is_flagged_when_broken() -> None:
    # 16 users, 1 ms each: 16,000 req/s keeps 16 in flight; 20,000 would be 20 (impossible)
    (ok,) = check_cell(cell("asyncio", 16_000))
    assert ok.name == "little's law" and ok.passed
    (impossible,) = check_cell(cell("asyncio", 20_000))
    assert not impossible.passed
    (idle,) = check_cell(cell("asyncio", 8_000))  # users half the time in the generator
    assert not idle.passed and "load generator" in idle.detail


def test_one_at_a_time_and_sleep_bounds() -> None:
    slow = {"p50": 160_000.0, "p99": 200_000.0, "mean": 160_000.0}
    io = cell("iterative", 96, workload="io")
    io["load"]["latency_us"] = slow
    assert all(c.passed for c in check_cell(io))
    io["load"]["throughput"] = 150  # two at once: more than 1 / 10 ms
    assert {c.name for c in check_cell(io) if not c.passed} == {"one at a time", "little's law"}
    sleeper = cell("sleep", 49, command=["python", "-m", "servers", "sleep", "--sleep", "0.02"])
    sleeper["load"]["latency_us"] = {"p50": 20_000.0, "p99": 21_000.0, "mean": 326_000.0}
    assert sleep_of(sleeper) == 0.02
    bounds = [c for c in check_cell(sleeper) if c.name == "at most 1 / sleep"]
    assert bounds and bounds[0].passed
    sleeper["load"]["throughput"] = 60
    assert not next(c for c in check_cell(sleeper) if c.name == "at most 1 / sleep").passed


def test_fork_reap_must_end_with_no_zombie() -> None:
    good = cell("fork_reap", 400, leak={"zombies_after": 0}, request_cap=2000)
    bad = cell("fork_reap", 400, leak={"zombies_after": 3}, request_cap=2000)
    assert [c.passed for c in check_cell(good)] == [True]
    assert [c.passed for c in check_cell(bad)] == [False]


def test_two_runs_contradict_only_where_both_are_sure() -> None:
    from bench.compare import compare

    def run(values: dict[str, tuple[float, ...]]) -> dict:
        return {
            "cells": [
                cell(server, value, repetition)
                for server, series in values.items()
                for repetition, value in enumerate(series, start=1)
            ]
        }

    first = run({"a": (100, 101, 102), "b": (50, 51, 52), "c": (60, 80, 99)})
    same = run({"a": (98, 99, 100), "b": (40, 41, 42), "c": (45, 90, 100)})
    flipped = run({"a": (50, 51, 52), "b": (100, 101, 102), "c": (40, 75, 110)})
    (agreement,) = compare(first, same)
    assert agreement.level == ("hello", 16, "keepalive")
    assert agreement.contradictions == [] and agreement.agreed == 2  # a > b, c > b in both
    assert agreement.undecided == 1  # c overlaps a in the second run
    (disagreement,) = compare(first, flipped)
    assert disagreement.contradictions == [("a", "b")]
    assert disagreement.order_b == ["b", "c", "a"]
