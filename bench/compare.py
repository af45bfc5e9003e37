"""Did it get faster? `python -m bench compare RUN_A RUN_B`, as pyperf's compare_to does for
its own statistics.

Per server and cell both runs measured (closed loop), the change from A to B of the median
throughput and p99, and whether it is significant by the test the report uses (the exact
Mann-Whitney test, bench/stats.py; none is claimed where the runs are too few to reach 5 %).
Then, per workload and concurrency, whether the two runs rank the servers the same way: a
contradiction is a pair that each run orders significantly, in opposite directions. Before
all that, a warning for every difference in what was measured on: first the machine's own speed
(each run times a fixed workload before, between and after its rounds; where the two runs'
timings do not overlap, every change includes the machine's), then CPU, Python, commit, package
versions, profile. A generator-bound cell is the generator's figure: never faster or slower.
"""

from __future__ import annotations

import itertools
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.record import RunRecord
from bench.stats import Summary, mann_whitney_p, significant, summarise
from bench.store import RunFormatError, load_run


@dataclass
class Agreement:
    level: tuple[str, int, str]  # workload, users, mode
    order_a: list[str]
    order_b: list[str]
    contradictions: list[tuple[str, str]]  # (faster in A, faster in B)
    agreed: int  # pairs both runs ordered significantly, the same way
    undecided: int  # pairs at least one run could not tell apart


def _by_level(run: RunRecord) -> dict[tuple[str, int, str], dict[str, Summary]]:
    levels: dict[tuple[str, int, str], dict[str, Summary]] = {}
    for summary in summarise(run.cells):
        if not summary.rate and not summary.generator_bound:
            key = (summary.workload, summary.users, summary.mode)
            levels.setdefault(key, {})[summary.server] = summary
    return levels


def _verdict(first: Summary, second: Summary) -> int:
    """+1: first is significantly faster; -1: second is; 0: not told apart."""
    if not significant(first.throughput.values, second.throughput.values):
        return 0
    return 1 if first.throughput.median > second.throughput.median else -1


def compare(run_a: RunRecord, run_b: RunRecord) -> list[Agreement]:
    """Every level both runs share, with the pairs of servers they order differently."""
    levels_a, levels_b = _by_level(run_a), _by_level(run_b)
    agreements = []
    for level in sorted(levels_a.keys() & levels_b.keys()):
        a, b = levels_a[level], levels_b[level]
        servers = sorted(a.keys() & b.keys())
        contradictions, agreed, undecided = [], 0, 0
        for first, second in itertools.combinations(servers, 2):
            in_a, in_b = _verdict(a[first], a[second]), _verdict(b[first], b[second])
            if in_a and in_b and in_a != in_b:
                contradictions.append((first, second) if in_a > 0 else (second, first))
            elif in_a and in_b:
                agreed += 1
            else:
                undecided += 1
        order_a = sorted(servers, key=lambda s: -a[s].throughput.median)
        order_b = sorted(servers, key=lambda s: -b[s].throughput.median)
        agreements.append(Agreement(level, order_a, order_b, contradictions, agreed, undecided))
    return agreements


@dataclass
class Change:
    """One server at one cell, from run A to run B."""

    server: str
    level: tuple[str, int, str]
    throughput: tuple[float, float]  # medians, A and B
    p99_us: tuple[float, float]
    runs: tuple[int, int]
    p: float | None  # the throughput test's p-value; None: too few runs to test
    significant: bool | None
    bound: tuple[bool, bool] = (False, False)  # generator-bound in A, in B

    @property
    def ratio(self) -> float:
        before, after = self.throughput
        return after / before if before else float("nan")

    def describe(self) -> str:
        before, after = self.throughput
        word = "faster" if after > before else "slower"
        if any(self.bound):  # the generator's figure, not the server's: a bound either way
            where = " and ".join(run for run, bound in zip("AB", self.bound, strict=True) if bound)
            verdict = f"generator-bound in {where}: the figures are locust's, not compared"
        elif self.significant is None:
            verdict = f"not testable with {self.runs[0]} and {self.runs[1]} runs"
        elif self.significant:
            verdict = f"{word}, significant (p = {self.p:.3f})"
        else:
            verdict = f"not significant (p = {self.p:.2f})"
        p99_a, p99_b = self.p99_us
        return (
            f"{self.server:14s} {before:11,.0f} -> {after:11,.0f} req/s ({self.ratio:5.2f}x) "
            f"p99 {p99_a / 1000:8.2f} -> {p99_b / 1000:8.2f} ms: {verdict}"
        )


def changes(run_a: RunRecord, run_b: RunRecord) -> list[Change]:
    """Every server and cell measured by both runs (closed loop), A to B."""
    found = []
    levels_a, levels_b = _all_levels(run_a), _all_levels(run_b)
    for level in sorted(levels_a.keys() & levels_b.keys()):
        a, b = levels_a[level], levels_b[level]
        for server in sorted(a.keys() & b.keys()):
            first, second = a[server].throughput.values, b[server].throughput.values
            differs = significant(first, second)
            found.append(
                Change(
                    server,
                    level,
                    (a[server].throughput.median, b[server].throughput.median),
                    (a[server].p99.median, b[server].p99.median),
                    (len(first), len(second)),
                    None if differs is None else mann_whitney_p(first, second),
                    differs,
                    (a[server].generator_bound, b[server].generator_bound),
                )
            )
    return found


def _all_levels(run: RunRecord) -> dict[tuple[str, int, str], dict[str, Summary]]:
    levels: dict[tuple[str, int, str], dict[str, Summary]] = {}
    for summary in summarise(run.cells):
        if not summary.rate:
            key = (summary.workload, summary.users, summary.mode)
            levels.setdefault(key, {})[summary.server] = summary
    return levels


def machine_speeds(run: RunRecord) -> list[float]:
    """The seconds of the run's probes of the machine's speed (bench/telemetry/machine.py)."""
    return [probe.seconds for probe in run.machine_speed.probes] if run.machine_speed else []


def machine_change(run_a: RunRecord, run_b: RunRecord) -> tuple[float | None, str]:
    """How much faster the machine itself was in B than in A (its fixed workload's median time
    in A over B's), and the warning to give first where their probes do not overlap."""
    a, b = machine_speeds(run_a), machine_speeds(run_b)
    if not a or not b:
        missing = " and ".join(name for name, found in (("A", a), ("B", b)) if not found)
        return None, f"run {missing} did not measure the machine's speed: its changes may be it"
    ratio = statistics.median(a) / statistics.median(b)
    if max(a) < min(b) or max(b) < min(a):
        return ratio, (
            f"the machine itself ran {ratio:.2f}x as fast in B as in A (a fixed workload: "
            f"{statistics.median(a) * 1000:.1f} ms in A, {statistics.median(b) * 1000:.1f} ms "
            "in B, their probes apart): every change below includes the machine's"
        )
    return ratio, ""


def differences(run_a: RunRecord, run_b: RunRecord) -> list[str]:
    """What differs in what the two runs were measured on, one warning each: the machine's own
    speed first."""
    meta_a, meta_b = run_a.metadata, run_b.metadata
    said = [warning] if (warning := machine_change(run_a, run_b)[1]) else []
    for what, found in (
        ("CPU", lambda m: m.cpu_model),
        ("CPU count", lambda m: m.cpu_count),
        ("Python", lambda m: m.python),
        ("commit", lambda m: m.commit),
        ("kernel", lambda m: m.kernel),
        ("profile", lambda m: m.settings.profile),
        ("duration_s", lambda m: m.settings.duration_s),
        ("client", lambda m: m.settings.client),
    ):
        if found(meta_a) != found(meta_b):
            said.append(f"{what} differs: {found(meta_a)} against {found(meta_b)}")
    packages_a, packages_b = meta_a.packages, meta_b.packages
    for name in sorted(packages_a.keys() | packages_b.keys()):
        if packages_a.get(name) != packages_b.get(name):
            said.append(f"{name} differs: {packages_a.get(name)} against {packages_b.get(name)}")
    return said


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args and args[0] in ("-h", "--help") else 2
    runs = []
    for folder in map(Path, args):
        try:
            runs.append(load_run(folder if folder.is_dir() else folder.parent))
        except RunFormatError as exc:
            print(f"python -m bench compare: error: {exc}", file=sys.stderr)
            return 2
    for warning in differences(*runs):
        print(f"warning: {warning}")
    found = changes(*runs)
    ratio, _ = machine_change(*runs)
    machine = f"; the machine {ratio:.2f}x" if ratio is not None else ""
    for level in dict.fromkeys(change.level for change in found):
        workload, users, mode = level
        print(f"{workload}, {users} users, {mode} (A -> B{machine}):")
        for change in (c for c in found if c.level == level):
            print(f"  {change.describe()}")
    agreements = compare(*runs)
    if not agreements:
        print("the two runs share no workload and concurrency level")
        return 1
    for item in agreements:
        workload, users, mode = item.level
        print(f"{workload}, {users} users, {mode}:")
        print(f"  A: {' > '.join(item.order_a)}")
        print(f"  B: {' > '.join(item.order_b)}")
        print(
            f"  {item.agreed} pairs ordered the same way with significance, "
            f"{item.undecided} not told apart by at least one run, "
            f"{len(item.contradictions)} contradictions"
            + "".join(f"\n    {x} faster in A, {y} faster in B" for x, y in item.contradictions)
        )
    return 1 if any(item.contradictions for item in agreements) else 0


if __name__ == "__main__":
    sys.exit(main())
