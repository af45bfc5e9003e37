"""Statistics over repetitions, computed from run.json alone: what a handful of runs allows.

- The interval of a median is distribution-free, from the order statistics: with n runs, the
  interval between the k-th smallest and the k-th largest value covers the true median with
  probability 1 - 2 P(Binomial(n, 1/2) < k). Below 6 runs no such interval reaches 95 % (with
  5, [min, max] covers 93.75 %), so the figure is then only the range of the n runs, and is
  said to be ("range of 5 runs"), never called a 95 % interval.
- Two servers differ significantly when an exact two-sided Mann-Whitney test (every split of
  the pooled runs enumerated, ties by midranks) gives p <= 0.05. With n runs against m, the
  smallest p it can give is 2 / C(n+m, n): 0.1 for 3 against 3, so three runs can never show a
  difference, and `significant` says so (None: not testable) rather than guess.
- Drift: whether throughput moves with the round it was measured in (Spearman's rank
  correlation of throughput with the round, per group of repetitions), and a sign test across
  groups: were the late rounds faster (or slower) more often than chance allows?
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.record import CellRecord, ServiceDemand

CONFIDENCE = 0.95
ALPHA = 0.05  # two-sided level of the tests
NOISY_CV = 0.05  # a cell whose throughput varies more than this over repetitions is flagged
EXACT_LIMIT = 200_000  # splits enumerated at most; above, the normal approximation of U


def _binomial_below(n: int, k: int) -> float:
    """P(Binomial(n, 1/2) < k)."""
    return sum(math.comb(n, i) for i in range(k)) / 2**n


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple:
    """(low, high, coverage) of the median from the order statistics: the narrowest symmetric
    pair whose coverage reaches `confidence`; when none does (n < 6 at 95 %), the whole range
    and its own (lower) coverage. A single value: that value twice, coverage 0."""
    data = sorted(float(v) for v in values)
    n = len(data)
    if n == 0:
        return float("nan"), float("nan"), 0.0
    if n == 1:
        return data[0], data[0], 0.0
    best = 1  # [min, max]
    for k in range(1, n // 2 + 1):
        if 1 - 2 * _binomial_below(n, k) >= confidence:
            best = k
    coverage = 1 - 2 * _binomial_below(n, best)
    return data[best - 1], data[n - best], coverage


def _midranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """The exact two-sided p-value of the Mann-Whitney test of `a` against `b` (the share of
    all splits of the pooled values whose rank sum is as far from its mean as the one seen)."""
    n, m = len(a), len(b)
    if not n or not m:
        return 1.0
    ranks = _midranks([*a, *b])
    mean = n * (n + m + 1) / 2
    observed = abs(sum(ranks[:n]) - mean)
    total = math.comb(n + m, n)
    if total > EXACT_LIMIT:  # large samples: the normal approximation
        sigma = math.sqrt(n * m * (n + m + 1) / 12)
        z = (observed - 0.5) / sigma if sigma else 0.0
        return math.erfc(max(z, 0.0) / math.sqrt(2))
    extreme = sum(
        abs(sum(ranks[i] for i in split) - mean) >= observed - 1e-9
        for split in itertools.combinations(range(n + m), n)
    )
    return extreme / total


def smallest_p(n: int, m: int) -> float:
    """The least p-value the exact two-sided test can give n runs against m."""
    return 2 / math.comb(n + m, n) if n and m else 1.0


def significant(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> bool | None:
    """Whether a and b differ at `alpha` (two-sided exact Mann-Whitney); None when their numbers
    of runs cannot reach that level whatever the values (3 against 3, say)."""
    if smallest_p(len(a), len(b)) > alpha:
        return None
    return mann_whitney_p(a, b) <= alpha


def variation(values: Sequence[float]) -> float:
    """The coefficient of variation (sample standard deviation over the mean); 0 for one value."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2 or not data.mean():
        return 0.0
    return float(data.std(ddof=1) / data.mean())


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (0 when either side does not vary)."""
    rx, ry = np.asarray(_midranks(x)), np.asarray(_midranks(y))
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def sign_test_p(positive: int, negative: int) -> float:
    """The two-sided binomial p-value of `positive` signs out of positive + negative."""
    n = positive + negative
    if not n:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(positive, negative) + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass
class Estimate:
    """A figure over repetitions: its median and interval, and the values themselves."""

    values: list[float]
    median: float = field(init=False)
    low: float = field(init=False)
    high: float = field(init=False)
    coverage: float = field(init=False)  # of [low, high], distribution-free

    def __post_init__(self) -> None:
        self.median = float(np.median(self.values)) if self.values else float("nan")
        self.low, self.high, self.coverage = median_interval(self.values)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def label(self) -> str:
        """What [low, high] is: 'range of 5 runs', '95 % interval of 6 runs', 'one run'."""
        if self.n < 2:
            return "one run"
        if self.coverage >= CONFIDENCE:
            return f"{CONFIDENCE:.0%} interval of {self.n} runs".replace("%", " %")
        return f"range of {self.n} runs"


@dataclass
class Summary:
    """One cell of the plan (server, workload, users, mode, rate) over its repetitions."""

    server: str
    workload: str
    users: int
    mode: str
    rate: float
    throughput: Estimate
    p50: Estimate
    p99: Estimate
    demand: Estimate  # the server's CPU µs per request (service demand)
    cv: float  # of throughput
    generator_bound: bool  # in any repetition
    rounds: list[int]  # the round (repetition) each value was measured in
    bound_causes: frozenset[str]  # why: "locust" (its own CPU), "contended" (others' work)
    wrk: Estimate  # wrk's throughput on the same cell, where it ran
    demand_error: float = 0.0  # the CPU counter's error per request, the largest of the runs
    user: Estimate = field(default_factory=lambda: Estimate([]))  # user CPU µs per request
    system: Estimate = field(default_factory=lambda: Estimate([]))  # system CPU µs per request
    faults: Estimate = field(default_factory=lambda: Estimate([]))  # page faults per request
    ran_out: frozenset[str] = frozenset()  # which side ran out of CPU: server, generator, both
    split_error: float = 0.0  # the user/system split's error per request, the largest

    @property
    def n(self) -> int:
        return self.throughput.n

    @property
    def noisy(self) -> bool:
        return self.cv > NOISY_CV


def _latency(cell: CellRecord, name: str) -> float:
    assert cell.load is not None
    value = cell.load.latency_us.at(name)
    return float("inf") if value is None else value  # open loop: more than the limit


def summarise(cells: Iterable[CellRecord]) -> list[Summary]:
    """Every plan cell's repetitions (the ones that ran to the end) summarised."""
    groups: dict[tuple, list[CellRecord]] = defaultdict(list)
    for cell in cells:
        if cell.ok:
            key = (cell.server, cell.workload, cell.users, cell.mode, cell.rate or 0.0)
            groups[key].append(cell)
    summaries = []
    for (server, workload, users, mode, rate), found in groups.items():
        throughput = [c.load.throughput for c in found if c.load]
        demands = [c.service_demand for c in found if c.service_demand]

        def part(
            figure: Callable[[ServiceDemand], float | None], demands: list = demands
        ) -> Estimate:
            return Estimate([v for d in demands if (v := figure(d)) is not None])

        wrk = [c.wrk.throughput for c in found if c.wrk and c.wrk.throughput]
        summaries.append(
            Summary(
                server,
                workload,
                users,
                mode,
                rate,
                Estimate(throughput),
                Estimate([_latency(c, "p50") for c in found]),
                Estimate([_latency(c, "p99") for c in found]),
                Estimate([d.us_per_request for d in demands]),
                variation(throughput),
                any(c.generator_bound for c in found),
                [c.repetition for c in found],
                frozenset(c.generator_bound_cause for c in found) - {""},
                Estimate(wrk),
                max((d.error_us_per_request or 0.0 for d in demands), default=0.0),
                part(lambda d: d.user_us_per_request),
                part(lambda d: d.system_us_per_request),
                part(lambda d: d.faults_per_request),
                frozenset(c.saturation.ran_out for c in found if c.saturation) - {"neither"},
                max((d.split_error_us_per_request or 0.0 for d in demands), default=0.0),
            )
        )
    return summaries


@dataclass
class Ranked:
    """A server's place: its tier, opened by the tier's best server (its leader). A server joins
    the tier of the leader it is not told apart from and opens a tier of its own otherwise, so
    two servers share a place only if neither is told apart from their leader, and every
    'faster' and 'not told apart' holds for the pair it names."""

    place: int  # 1 + the number of servers in the tiers above
    summary: Summary
    leader: str  # its tier's leader (itself, for a leader)
    against: str  # whom it was tested against: its tier's leader, or the leader above it
    p: float | None  # the exact test's p-value (None for the first, or when not testable)
    differs: bool | None  # Holm-corrected verdict; None: the runs cannot reach its level
    level: float  # the level the correction gave this comparison
    comparisons: int  # how many the table made (one per server but the first)


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> tuple[list[bool], list[float]]:
    """Holm's step-down over a family of tests: which are rejected with the family-wise error
    held at `alpha`, and the level each p-value was held to (the i-th smallest against
    alpha / (m - i + 1); once one fails, the larger ones fail too)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    rejected, levels = [False] * m, [alpha] * m
    going = True
    for step, index in enumerate(order):
        levels[index] = alpha / (m - step)
        going = going and p_values[index] <= levels[index]
        rejected[index] = going
    return rejected, levels


def tiers(
    samples: Sequence[Sequence[float]], alpha: float = ALPHA
) -> list[tuple[int, int, float | None, bool | None, float]]:
    """Tiers of samples given best first: per sample (its leader, whom it was tested against,
    p, differs, level). Each sample is tested against the leader of the tier above it; the
    k - 1 tests are corrected together by Holm. Which leader a sample is tested against depends
    on the verdicts before it, so the verdicts are found as a fixed point: from 'every sample
    its own leader', test, correct, rebuild the tiers, until they stop changing (where they do
    not within k rounds, every test is held to Bonferroni's alpha / (k - 1) instead)."""
    k = len(samples)
    if k < 2:
        return [(0, 0, None, None, alpha)] * k
    m = k - 1

    def against(joins: list[bool]) -> list[int]:
        """Whom each sample is tested against: the leader of the tier above it (itself: 0)."""
        leader, found = 0, [0]
        for index in range(1, k):
            found.append(leader)
            if not joins[index]:
                leader = index
        return found

    def verdicts(tested: list[int], fixed: float | None) -> tuple[list, list, list]:
        pairs = list(enumerate(tested))[1:]
        p = [mann_whitney_p(samples[a], samples[i]) for i, a in pairs]
        reachable = [smallest_p(len(samples[a]), len(samples[i])) for i, a in pairs]
        if fixed is None:
            rejected, levels = holm(p, alpha)
        else:
            rejected, levels = [x <= fixed for x in p], [fixed] * m
        differs = [
            None if low > level else bool(r)
            for r, level, low in zip(rejected, levels, reachable, strict=True)
        ]
        return p, differs, levels

    joins = [False] * k
    for _ in range(k + 1):
        tested = against(joins)
        p, differs, levels = verdicts(tested, None)
        found = [False, *(not d for d in differs)]
        if found == joins:
            break
        joins = found
    else:  # no fixed point: the plain walk, each test at Bonferroni's level
        joins, fixed, leader = [False] * k, alpha / m, 0
        for index in range(1, k):
            p_i = mann_whitney_p(samples[leader], samples[index])
            reachable = smallest_p(len(samples[leader]), len(samples[index])) <= fixed
            joins[index] = not (reachable and p_i <= fixed)
            if not joins[index]:
                leader = index
        tested = against(joins)
        p, differs, levels = verdicts(tested, fixed)
    out: list[tuple[int, int, float | None, bool | None, float]] = [(0, 0, None, None, alpha)]
    leader = 0
    for index in range(1, k):
        if not joins[index]:
            leader = index
        out.append((leader, tested[index], p[index - 1], differs[index - 1], levels[index - 1]))
    return out


def ranking(summaries: list[Summary]) -> tuple[list[Ranked], list[Summary]]:
    """Closed-loop summaries of one (workload, users, mode) in tiers, best median throughput
    first, and those left out: a generator-bound cell measures locust, so it is never ranked
    by throughput."""
    ranked = sorted(
        (s for s in summaries if not s.generator_bound and not s.rate),
        key=lambda s: -s.throughput.median,
    )
    unranked = [s for s in summaries if s.generator_bound and not s.rate]
    return placed(ranked, [s.throughput.values for s in ranked]), unranked


def placed(ordered: list[Summary], samples: list[list[float]]) -> list[Ranked]:
    """The tiers of summaries given best first, with the samples that order them."""
    found = tiers(samples)
    result: list[Ranked] = []
    for index, (leader, against, p, differs, level) in enumerate(found):
        place = index + 1 if leader == index else result[leader].place
        result.append(
            Ranked(
                place,
                ordered[index],
                ordered[leader].server,
                ordered[against].server,
                p,
                differs,
                level,
                max(len(ordered) - 1, 0),
            )
        )
    return result


@dataclass
class Drift:
    """Does throughput move with the round? Per group of repetitions, and over all groups."""

    groups: list[tuple[str, float]]  # (group, Spearman rho of throughput with the round)
    rising: int
    falling: int
    p: float  # sign test over the groups' signs (ties left out)
    # per workload: (the sum of its groups' rho, its two-sided permutation p): unlike the
    # sign test, it weighs how strongly each group moved
    workloads: dict[str, tuple[float, float]] = field(default_factory=dict)


def drift(summaries: list[Summary], least: int = 5) -> Drift | None:
    """The drift of the groups with at least `least` repetitions (None when there is none)."""
    groups = []
    for s in summaries:
        if s.n >= least and not s.rate:
            rho = spearman(s.rounds, s.throughput.values)
            groups.append((f"{s.server}/{s.workload}/{s.users}u/{s.mode}", rho))
    if not groups:
        return None
    rising = sum(rho > 0 for _, rho in groups)
    falling = sum(rho < 0 for _, rho in groups)
    by_workload: dict[str, list[Summary]] = defaultdict(list)
    for s in summaries:
        if s.n >= least and not s.rate:
            by_workload[s.workload].append(s)
    workloads = {
        workload: summed_rho_test([(s.rounds, s.throughput.values) for s in mine])
        for workload, mine in by_workload.items()
    }
    return Drift(groups, rising, falling, sign_test_p(rising, falling), workloads)


def summed_rho_test(
    groups: Sequence[tuple[Sequence[float], Sequence[float]]], draws: int = 4000, seed: int = 1
) -> tuple[float, float]:
    """(the sum of Spearman's rho of each group's values with its rounds, its two-sided p):
    the share of draws, each group's values shuffled over its rounds independently (no drift),
    whose sum is at least as far from zero. Seeded: the same run gives the same p."""
    rng = np.random.default_rng(seed)
    observed, simulated = 0.0, np.zeros(draws)
    for rounds, values in groups:
        rx = np.asarray(_midranks(rounds), dtype=float)
        ry = np.asarray(_midranks(values), dtype=float)
        if rx.std() == 0 or ry.std() == 0:
            continue
        observed += spearman(rounds, values)
        shuffled = ry[np.argsort(rng.random((draws, len(ry))), axis=1)]
        x = (rx - rx.mean()) / rx.std()
        y = (shuffled - shuffled.mean(axis=1, keepdims=True)) / shuffled.std(axis=1, keepdims=True)
        simulated += (y * x).mean(axis=1)
    beyond = np.sum(np.abs(simulated) >= abs(observed) - 1e-9)
    return observed, float((1 + beyond) / (1 + draws))


def cpu_us(value: float, error: float | None) -> str:
    """A CPU figure in µs, never finer than its counter: to 0.1 µs below 10 µs where its error
    allows, to 1 µs where that is its error, with its ± beyond, and as a bound where the window
    held fewer than five units of the counter."""
    if not error or error < 0.05:
        return f"{value:,.1f}" if value < 10 else f"{value:,.0f}"
    if error < 0.5:
        return f"{value:,.0f}"
    if value < 2.5 * error:
        return f"≤ {value + error:,.0f}"
    return f"{value:,.0f} ± {error:,.0f}"
