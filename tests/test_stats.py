"""Statistics over repetitions and model-expectation checks, against answers known in advance."""

from __future__ import annotations

import numpy as np
import pytest

from bench.checks import check_cell
from bench.record import RunRecord
from bench.stats import (
    Estimate,
    drift,
    mann_whitney_p,
    median_interval,
    ranking,
    sign_test_p,
    significant,
    smallest_p,
    spearman,
    summarise,
    variation,
)
from tests import synthetic


def test_below_six_runs_the_interval_is_the_range_and_is_said_to_be() -> None:
    low, high, coverage = median_interval([30.0, 10.0, 20.0, 50.0, 40.0])
    assert (low, high) == (10.0, 50.0) and coverage == pytest.approx(1 - 2 / 32)
    assert Estimate([30.0, 10.0, 20.0, 50.0, 40.0]).label == "range of 5 runs"
    assert Estimate([5.0]).label == "one run" and median_interval([5.0]) == (5.0, 5.0, 0.0)


def test_from_six_runs_the_order_statistics_give_a_95_percent_interval() -> None:
    six = median_interval(range(1, 7))
    assert six[:2] == (1, 6) and six[2] == pytest.approx(1 - 2 / 64)
    assert Estimate(list(range(6))).label == "95 % interval of 6 runs"
    nine = median_interval(range(1, 10))  # the 2nd smallest to the 2nd largest: 96.1 %
    assert nine[:2] == (2, 8) and nine[2] == pytest.approx(1 - 2 * 10 / 512)


def test_the_interval_covers_the_median_as_often_as_it_says() -> None:
    """Six draws of a skewed distribution, 4,000 times: [min, max] holds the true median
    (ln 2 for an exponential of rate 1) in 96.9 % of them."""
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(4000):
        low, high, _ = median_interval(rng.exponential(1.0, 6))
        hits += low <= np.log(2) <= high
    assert hits / 4000 == pytest.approx(1 - 2 / 64, abs=0.01)


def test_the_exact_test_gives_the_textbook_p_values() -> None:
    assert mann_whitney_p([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)
    assert mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    # rank sum 11 against a mean of 18: two splits at 11 or below, two at 25 or above, of 70
    assert mann_whitney_p([1, 2, 3, 5], [4, 6, 7, 8]) == pytest.approx(4 / 70)
    assert mann_whitney_p([5, 5, 5], [5, 5, 5]) == 1.0  # all tied: nothing to see
    assert smallest_p(3, 3) == pytest.approx(0.1) and smallest_p(5, 5) < 0.01


def test_significance_only_where_the_runs_can_show_it() -> None:
    assert significant([10, 11, 12], [20, 21, 22]) is None  # 3 against 3: p >= 0.1 always
    assert significant([10, 11, 12, 13, 14], [20, 21, 22, 23, 24]) is True
    assert significant([10, 15, 20, 25, 30], [12, 17, 22, 27, 32]) is False
    assert significant([10], [20]) is None


def test_drift_and_the_sign_test() -> None:
    assert spearman([1, 2, 3, 4, 5], [10, 20, 30, 40, 50]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    assert sign_test_p(10, 0) == pytest.approx(2 / 1024)
    assert sign_test_p(5, 5) == 1.0
    rising = {"cells": [cell(s, 100 + r, r) for s in "abcdefgh" for r in range(1, 6)]}
    found = drift(summarise(record(rising).cells))
    assert found.rising == 8 and found.falling == 0 and found.p == pytest.approx(2 / 256)


def test_variation_is_the_coefficient_of_variation() -> None:
    assert variation([100, 100, 100]) == 0
    assert variation([90, 100, 110]) == pytest.approx(0.1)
    assert variation([42]) == 0


def cell(server: str, throughput: float, repetition: int = 1, **extra) -> dict:
    """A hello cell at 16 users with the throughput given, p50 and mean 1 ms, p99 2 ms; `extra`
    replaces its fields."""
    found = synthetic.cell(server, "hello", 16, throughput, repetition=repetition)
    found["load"]["latency_us"] = {"p50": 1000.0, "p99": 2000.0, "mean": 1000.0}
    found.update({"key": f"{server}/r{repetition}", "command": [], "leak": None, **extra})
    return found


def record(partial: dict) -> RunRecord:
    """A whole run made of a partial one: its cells, and the metadata fields and machine speed
    it gives (the rest as tests/synthetic.py makes them)."""
    document = synthetic.run(partial.get("cells", []))
    document["metadata"].update(partial.get("metadata", {}))
    if "machine_speed" in partial:
        document["machine_speed"] = partial["machine_speed"]
    return synthetic.record(document)


def checks_of(found: dict, duration_s: float | None = None) -> list:
    return check_cell(synthetic.cell_record(found), duration_s)


def test_ranking_shares_places_between_servers_that_do_not_differ() -> None:
    run = {
        "cells": [cell("a", v, i) for i, v in enumerate((100, 101, 102, 103, 104), 1)]
        + [cell("b", v, i) for i, v in enumerate((99, 103, 104, 105, 106), 1)]
        + [cell("c", v, i) for i, v in enumerate((50, 51, 52, 53, 54), 1)]
        + [cell("d", 900, 1, generator_bound=True)]
    }
    summaries = summarise(record(run).cells)
    assert {s.server: s.n for s in summaries} == {"a": 5, "b": 5, "c": 5, "d": 1}
    places, unranked = ranking(summaries)
    assert [(r.place, r.summary.server) for r in places] == [(1, "b"), (1, "a"), (3, "c")]
    # a against b, its leader: not told apart; c against b (the leader above it): every run of
    # c below every run of b, p = 2/252 = 0.0079, within Holm's first level for 2 tests (0.025)
    assert [(r.leader, r.against, r.differs) for r in places] == [
        ("b", "b", None),
        ("b", "b", False),
        ("c", "b", True),
    ]
    assert places[2].p == pytest.approx(2 / 252) and places[2].level == pytest.approx(0.025)
    assert [s.server for s in unranked] == ["d"]  # the generator's figure is never ranked
    a = next(s for s in summaries if s.server == "a")
    assert (a.throughput.median, a.throughput.low, a.throughput.high) == (102, 100, 104)
    assert not a.noisy and next(s for s in summaries if s.server == "b").cv < 0.05


def test_three_runs_rank_nothing_apart() -> None:
    run = {
        "cells": [cell("a", v, i) for i, v in enumerate((100, 101, 102), 1)]
        + [cell("c", v, i) for i, v in enumerate((50, 51, 52), 1)]
    }
    places, _ = ranking(summarise(record(run).cells))
    assert [(r.place, r.differs) for r in places] == [(1, None), (1, None)]


def six(name: str, values: tuple[float, ...]) -> list[dict]:
    return [cell(name, v, i) for i, v in enumerate(values, 1)]


def test_places_do_not_chain_through_a_server_that_overlaps_both() -> None:
    """a beats c in every run; b overlaps both. Compared neighbour to neighbour, a ~ b and
    b ~ c would chain all three into one place; against their leader, c opens a place of its
    own below a and b."""
    run = {
        "cells": six("a", (110, 111, 112, 113, 114, 115))
        + six("b", (104, 106, 108, 111, 113, 116))
        + six("c", (100, 101, 102, 103, 104, 105))
    }
    places, _ = ranking(summarise(record(run).cells))
    assert [(r.summary.server, r.place, r.leader) for r in places] == [
        ("a", 1, "a"),
        ("b", 1, "a"),
        ("c", 3, "c"),
    ]
    assert places[2].against == "a" and places[2].differs  # c is told apart from a, not from b
    assert places[2].p == pytest.approx(2 / 924)  # 6 against 6, every run apart


def test_holm_holds_each_test_to_its_share_of_the_level() -> None:
    from bench.stats import holm

    rejected, levels = holm([0.001, 0.02, 0.04, 0.3])
    assert levels == pytest.approx([0.0125, 0.0167, 0.025, 0.05], rel=0.01)
    assert rejected == [True, False, False, False]  # 0.02 > 0.05 / 3: it and the rest fail
    # five runs against five cannot pass a table of eight (0.0079 > 0.05 / 8), six can
    from bench.stats import smallest_p

    assert smallest_p(5, 5) > 0.05 / 8 and smallest_p(6, 6) < 0.05 / 22


def test_littles_law_fails_when_more_are_in_flight_than_users() -> None:
    # 16 users, 1 ms each: 16,000 req/s keeps 16 in flight; 20,000 would be 20 (impossible)
    (ok,) = checks_of(cell("asyncio", 16_000))
    assert ok.name == "little's law" and ok.passed
    (impossible,) = checks_of(cell("asyncio", 20_000))
    assert not impossible.passed and "20.00 requests in flight for 16 users" in impossible.detail


def test_the_window_must_be_what_was_asked() -> None:
    fine, short = cell("asyncio", 16_000), cell("asyncio", 16_000)
    fine["load"]["window_s"], short["load"]["window_s"] = 2.01, 1.5
    assert [c.passed for c in checks_of(fine, 2.0) if c.name == "window as asked"] == [True]
    assert [c.passed for c in checks_of(short, 2.0) if c.name == "window as asked"] == [False]


def test_an_open_loop_cannot_answer_more_than_it_offered() -> None:
    opened = cell("asyncio", 250, rate=200.0)
    opened["load"]["offered_rate"] = 200.0
    (check,) = [c for c in checks_of(opened) if c.name == "no more than offered"]
    assert not check.passed
    opened["load"]["throughput"] = 199
    (check,) = [c for c in checks_of(opened) if c.name == "no more than offered"]
    assert check.passed


def test_one_at_a_time_and_sleep_bounds() -> None:
    slow = {"p50": 160_000.0, "p99": 200_000.0, "mean": 160_000.0}
    io = cell("iterative", 96, workload="io")
    io["load"]["latency_us"] = slow
    assert all(c.passed for c in checks_of(io))
    io["load"]["throughput"] = 150  # two at once: more than 1 / 10 ms
    assert {c.name for c in checks_of(io) if not c.passed} == {"one at a time", "little's law"}
    assert not next(c for c in checks_of(io) if c.name == "one at a time").passed
    sleeper = cell("sleep", 49, command=["python", "-m", "servers", "sleep", "--sleep", "0.02"])
    sleeper["load"]["latency_us"] = {"p50": 20_000.0, "p99": 21_000.0, "mean": 326_000.0}
    assert synthetic.cell_record(sleeper).option("--sleep") == 0.02
    bounds = [c for c in checks_of(sleeper) if c.name == "at most 1 / sleep"]
    assert bounds and bounds[0].passed
    sleeper["load"]["throughput"] = 60
    assert not next(c for c in checks_of(sleeper) if c.name == "at most 1 / sleep").passed


def test_fork_reap_must_end_with_no_zombie() -> None:
    good = cell("fork_reap", 400, leak={"verdict": "clean", "zombies_after": 0}, request_cap=2000)
    bad = cell("fork_reap", 400, leak={"verdict": "clean", "zombies_after": 3}, request_cap=2000)
    assert [c.passed for c in checks_of(good)] == [True]
    assert [c.passed for c in checks_of(bad)] == [False]


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

    first = run(
        {"a": (100, 101, 102, 103, 104), "b": (50, 51, 52, 53, 54), "c": (60, 70, 80, 90, 99)}
    )
    same = run(
        {"a": (98, 99, 100, 101, 102), "b": (40, 41, 42, 43, 44), "c": (45, 97, 101, 103, 110)}
    )
    flipped = run(
        {"a": (50, 51, 52, 53, 54), "b": (100, 101, 102, 103, 104), "c": (40, 60, 75, 90, 110)}
    )
    (agreement,) = compare(record(first), record(same))
    assert agreement.level == ("hello", 16, "keepalive")
    assert agreement.contradictions == [] and agreement.agreed == 2  # a > b, c > b in both
    assert agreement.undecided == 1  # c overlaps a in the second run
    (disagreement,) = compare(record(first), record(flipped))
    assert disagreement.contradictions == [("a", "b")]
    assert disagreement.order_b == ["b", "c", "a"]


def test_compare_says_what_got_faster_and_what_differs_in_the_machine() -> None:
    from bench.compare import changes, differences

    before = {"cells": [cell("a", v, r) for r, v in enumerate((100, 101, 102, 103, 104), 1)]}
    before["cells"] += [cell("b", v, r) for r, v in enumerate((50, 51, 52), 1)]
    after = {"cells": [cell("a", v, r) for r, v in enumerate((150, 151, 152, 153, 154), 1)]}
    after["cells"] += [cell("b", v, r) for r, v in enumerate((70, 71, 72), 1)]
    found = {change.server: change for change in changes(record(before), record(after))}
    assert found["a"].throughput == (102, 152) and found["a"].ratio == pytest.approx(152 / 102)
    assert found["a"].significant is True and found["a"].p == pytest.approx(2 / 252)
    assert "faster, significant (p = 0.008)" in found["a"].describe()
    assert found["b"].significant is None  # 3 against 3: no test can say
    assert "not testable with 3 and 3 runs" in found["b"].describe()
    meta = {"cpu_model": "X", "python": "3.11.7", "commit": "aaa", "packages": {"locust": "2.47"}}
    other = {**meta, "python": "3.13.1", "packages": {"locust": "2.48"}}
    said = differences(record({"metadata": meta}), record({"metadata": other}))
    assert said == [
        "run A and B did not measure the machine's speed: its changes may be it",
        "Python differs: 3.11.7 against 3.13.1",
        "locust differs: 2.47 against 2.48",
    ]


def test_an_open_loops_percentiles_count_the_requests_never_answered() -> None:
    """200 requests due, 100 answered in 1 to 100 ms: the median of all 200 is the 100th
    fastest, the last answer (100 ms); p90 falls among the 100 never answered: None, more than
    the limit; so do the mean and the max. Without `due`, the answers alone."""
    from hdrh.histogram import HdrHistogram

    from bench.load import percentiles

    histogram = HdrHistogram(1, 120_000_000, 3)
    for ms in range(1, 101):
        histogram.record_value(ms * 1000)
    censored, _ = percentiles(histogram, due=200)
    assert censored["p50"] == pytest.approx(100_000, rel=0.001)
    assert censored["p90"] is None and censored["p99"] is None
    assert censored["mean"] is None and censored["max"] is None
    answered, _ = percentiles(histogram)
    assert answered["p50"] == pytest.approx(50_000, rel=0.001)
    assert answered["p90"] == pytest.approx(90_000, rel=0.001)
    assert answered["max"] == pytest.approx(100_000, rel=0.001)


def test_the_summed_rho_sees_a_drift_the_sign_test_misses() -> None:
    """Ten groups of six runs: each drifts down strongly except three that rise a little. The
    sign test (7 against 3) sees nothing; the sum of rho against its permutations does; and
    groups without a trend give a sum near zero and a large p."""
    from bench.stats import summed_rho_test

    rounds = [1, 2, 3, 4, 5, 6]
    down = [(rounds, [106, 105, 104, 103, 102, 101])] * 7
    up = [(rounds, [100, 102, 101, 104, 103, 105.0])] * 3  # rho 0.89 each, weaker than -1
    total, p = summed_rho_test(down + up)
    assert sign_test_p(3, 7) > 0.3
    assert total == pytest.approx(-7 + 3 * 0.8857, abs=0.01) and p < 0.05
    a_little_up = [(rounds, [101, 106, 103, 102, 105, 104])] * 5  # rho +0.31 each
    a_little_down = [(rounds, [104, 105, 102, 103, 106, 101])] * 5  # rho -0.31 each
    total, p = summed_rho_test(a_little_up + a_little_down)
    assert abs(total) < 0.01 and p > 0.5


def test_compare_says_first_that_the_machine_itself_changed_and_compares_no_bound_cell() -> None:
    """B's machine ran the fixed workload 3.7 times as fast: that comes first; a server that
    was generator-bound in either run is never called faster, however its figures moved."""
    from bench.compare import changes, differences

    def probes(*seconds: float) -> dict:
        return {"steps": 200_000, "probes": [{"when": "x", "seconds": s} for s in seconds]}

    before = {
        "metadata": {},
        "machine_speed": probes(0.037, 0.038, 0.036),
        "cells": [cell("a", v, r, generator_bound=True) for r, v in enumerate((100, 101, 102), 1)]
        + [cell("b", v, r) for r, v in enumerate((10, 11, 12, 13, 14), 1)],
    }
    after = {
        "metadata": {},
        "machine_speed": probes(0.010, 0.0101, 0.0099),
        "cells": [cell("a", v, r, generator_bound=True) for r, v in enumerate((370, 371, 372), 1)]
        + [cell("b", v, r) for r, v in enumerate((37, 38, 39, 40, 41), 1)],
    }
    said = differences(record(before), record(after))
    assert said[0].startswith("the machine itself ran 3.70x as fast in B as in A")
    found = {change.server: change for change in changes(record(before), record(after))}
    assert (
        "generator-bound in A and B: the figures are locust's, not compared"
        in found["a"].describe()
    )
    assert "faster, significant" in found["b"].describe()  # the test, beside the machine's
    same = {**after, "machine_speed": probes(0.0098, 0.0102)}
    assert not differences(record(after), record(same))  # probes that overlap: no warning


def test_in_the_reference_run_servers_share_a_place_only_where_the_corrected_test_says_so() -> None:
    """The committed reference run's closed-loop tables: every server sharing a place was
    tested against that place's leader, and Holm over the table's comparisons, worked here by
    hand, does not tell them apart; every server below a place is told apart from a leader."""
    from bench.launch import REPO_ROOT
    from bench.store import load_run

    run = load_run(REPO_ROOT / "results" / "reference")
    summaries = summarise(run.cells)
    tables = {(s.workload, s.users, s.mode) for s in summaries if not s.rate}
    shared = 0
    for key in sorted(tables):
        places, _ = ranking([s for s in summaries if (s.workload, s.users, s.mode) == key])
        by_name = {r.summary.server: r for r in places}
        tested = [r for r in places[1:] if r.p is not None]
        ordered = sorted(r.p for r in tested)
        # Holm by hand: the i-th smallest p against 0.05 / (m - i), stopping at the first kept
        rejected, m = set(), len(tested)
        for i, p in enumerate(ordered):
            if p > 0.05 / (m - i):
                break
            rejected.add(p)
        for r in places[1:]:
            leader = by_name[r.leader]
            assert mann_whitney_p(
                by_name[r.against].summary.throughput.values, r.summary.throughput.values
            ) == pytest.approx(r.p)
            if r.leader != r.summary.server:  # shares its leader's place
                shared += 1
                assert r.against == r.leader and r.place == leader.place
                assert r.p not in rejected, (key, r.summary.server, r.p)
            else:
                assert r.differs and r.p in rejected, (key, r.summary.server, r.p)
    assert shared  # the reference run has ties to check
