"""Statistics over repetitions, computed from run.json alone: the median of each figure with a
bootstrap 95 % interval, the coefficient of variation, whether two servers differ
significantly, and the ranking of servers that follows from it.

With few repetitions the percentile bootstrap is honest but coarse: with 3 values the median's
95 % interval is their whole range, and two servers differ significantly only when their ranges
do not overlap. More repetitions narrow it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

RESAMPLES = 4000
CONFIDENCE = 0.95
NOISY_CV = 0.05  # a cell whose throughput varies more than this over repetitions is flagged


def _resampled_medians(rng: np.random.Generator, values: Sequence[float]) -> np.ndarray:
    """The medians of RESAMPLES resamples (with replacement) of `values`."""
    data = np.asarray(values, dtype=float)
    return np.median(data[rng.integers(0, len(data), (RESAMPLES, len(data)))], axis=1)


def _percentile_interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_interval(
    values: Sequence[float], confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float]:
    """The percentile-bootstrap interval of the median (a single value: that value twice)."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        return (float(data[0]), float(data[0])) if len(data) else (float("nan"),) * 2
    rng = np.random.default_rng(seed)
    return _percentile_interval(_resampled_medians(rng, data), confidence)


def difference_interval(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float]:
    """The bootstrap interval of median(a) - median(b), each resampled on its own."""
    rng = np.random.default_rng(seed)
    draws = _resampled_medians(rng, a) - _resampled_medians(rng, b)
    return _percentile_interval(draws, confidence)


def significant(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether the medians differ: the difference's interval leaves out zero. One value each
    can never be told apart from noise."""
    if len(a) < 2 or len(b) < 2:
        return False
    low, high = difference_interval(a, b)
    return low > 0 or high < 0


def variation(values: Sequence[float]) -> float:
    """The coefficient of variation (sample standard deviation over the mean); 0 for one value."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2 or not data.mean():
        return 0.0
    return float(data.std(ddof=1) / data.mean())


@dataclass
class Estimate:
    """A figure over repetitions: its median, 95 % interval and the values themselves."""

    values: list[float]
    median: float = field(init=False)
    low: float = field(init=False)
    high: float = field(init=False)

    def __post_init__(self) -> None:
        self.median = float(np.median(self.values)) if self.values else float("nan")
        self.low, self.high = bootstrap_interval(self.values)


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
    cv: float  # of throughput
    generator_bound: bool  # in any repetition

    @property
    def n(self) -> int:
        return len(self.throughput.values)

    @property
    def noisy(self) -> bool:
        return self.cv > NOISY_CV


def summarise(run: dict) -> list[Summary]:
    """Every plan cell's repetitions (the ones that ran to the end) summarised."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for cell in run["cells"]:
        if cell["status"] == "ok" and cell.get("load"):
            key = (cell["server"], cell["workload"], cell["users"], cell["mode"])
            groups[(*key, cell.get("rate", 0.0))].append(cell)
    summaries = []
    for (server, workload, users, mode, rate), cells in groups.items():
        throughput = [c["load"]["throughput"] for c in cells]
        summaries.append(
            Summary(
                server,
                workload,
                users,
                mode,
                rate,
                Estimate(throughput),
                Estimate([c["load"]["latency_us"].get("p50", 0.0) for c in cells]),
                Estimate([c["load"]["latency_us"].get("p99", 0.0) for c in cells]),
                variation(throughput),
                any(c["generator_bound"] for c in cells),
            )
        )
    return summaries


@dataclass
class Ranked:
    """A server's place: servers whose throughput does not differ significantly share a place."""

    place: int
    summary: Summary
    differs_from_next: bool | None  # None for the last one


def ranking(summaries: list[Summary]) -> tuple[list[Ranked], list[Summary]]:
    """Closed-loop summaries of one (workload, users, mode), best throughput first, and those
    left out: a generator-bound cell measures locust, so it is never ranked."""
    ranked = sorted(
        (s for s in summaries if not s.generator_bound and not s.rate),
        key=lambda s: -s.throughput.median,
    )
    unranked = [s for s in summaries if s.generator_bound and not s.rate]
    places: list[Ranked] = []
    place = 1
    for index, summary in enumerate(ranked):
        following = ranked[index + 1] if index + 1 < len(ranked) else None
        differs = (
            None
            if following is None
            else significant(summary.throughput.values, following.throughput.values)
        )
        places.append(Ranked(place, summary, differs))
        if differs:
            place = index + 2
    return places, unranked
