"""Do two runs rank the servers the same way? `python -m bench compare RUN_A RUN_B`

For every workload and concurrency both runs measured (closed loop), each run orders the
servers by median throughput, and says which neighbours differ significantly (bench/stats.py).
Two runs contradict each other on a pair of servers when each run finds a significant
difference and they point in opposite directions. Pairs that one run could not tell apart are
not contradictions: noise, reported as such.
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.stats import Summary, significant, summarise


@dataclass
class Agreement:
    level: tuple[str, int, str]  # workload, users, mode
    order_a: list[str]
    order_b: list[str]
    contradictions: list[tuple[str, str]]  # (faster in A, faster in B)
    agreed: int  # pairs both runs ordered significantly, the same way
    undecided: int  # pairs at least one run could not tell apart


def _by_level(run: dict) -> dict[tuple[str, int, str], dict[str, Summary]]:
    levels: dict[tuple[str, int, str], dict[str, Summary]] = {}
    for summary in summarise(run):
        if not summary.rate and not summary.generator_bound:
            key = (summary.workload, summary.users, summary.mode)
            levels.setdefault(key, {})[summary.server] = summary
    return levels


def _verdict(first: Summary, second: Summary) -> int:
    """+1: first is significantly faster; -1: second is; 0: not told apart."""
    if not significant(first.throughput.values, second.throughput.values):
        return 0
    return 1 if first.throughput.median > second.throughput.median else -1


def compare(run_a: dict, run_b: dict) -> list[Agreement]:
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args and args[0] in ("-h", "--help") else 2
    runs = []
    for folder in map(Path, args):
        path = folder / "run.json" if folder.is_dir() else folder
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            print(f"python -m bench compare: error: cannot read {path}: {exc}", file=sys.stderr)
            return 2
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
