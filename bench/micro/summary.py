"""Summarise a micro.json (pytest-benchmark's --benchmark-json), and say what got slower.

python -m bench.micro.summary results/micro-<time>/micro.json [--previous OLD/micro.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SLOWER = 1.10  # a median more than 10 % above the previous run's is called slower


def rows(document: dict) -> list[tuple[str, str, float, float, int]]:
    """(group, name, median µs, IQR µs, rounds) per benchmark."""
    found = []
    for bench in document["benchmarks"]:
        info = bench.get("extra_info") or {}
        name = info.get("model") or info.get("implementation") or bench["name"]
        stats = bench["stats"]
        found.append(
            (bench["group"], name, stats["median"] * 1e6, stats["iqr"] * 1e6, stats["rounds"])
        )
    return sorted(found)


def render(document: dict) -> str:
    lines, group = [], None
    for row_group, name, median, iqr, rounds in rows(document):
        if row_group != group:
            group = row_group
            lines.append(f"\n{group}\n  {'':34s} {'median µs':>11s} {'IQR µs':>9s} {'rounds':>7s}")
        lines.append(f"  {name:34s} {median:11.1f} {iqr:9.1f} {rounds:7d}")
    core = {
        name: median
        for g, name, median, _, _ in rows(document)
        if g.startswith("protocol core, plain")
    }
    ours, stdlib = core.get("ours"), core.get("stdlib http.server + wsgiref")
    if ours and stdlib:
        lines.append(
            f"\nprotocol core: ours {ours:.1f} µs, stdlib {stdlib:.1f} µs per request: "
            f"ours costs {ours / stdlib:.2f} of the stdlib's"
        )
    return "\n".join(lines)


def compare(new: dict, old: dict) -> list[str]:
    before = {(g, n): m for g, n, m, _, _ in rows(old)}
    notes = []
    for group, name, median, _, _ in rows(new):
        previous = before.get((group, name))
        if previous and median > previous * SLOWER:
            notes.append(
                f"SLOWER: {group}, {name}: {previous:.1f} -> {median:.1f} µs "
                f"(+{(median / previous - 1) * 100:.0f} %)"
            )
    return notes or ["nothing got more than 10 % slower than the previous run"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.micro.summary", description=__doc__)
    parser.add_argument("micro_json", type=Path)
    parser.add_argument("--previous", type=Path, help="an earlier micro.json to compare with")
    args = parser.parse_args(argv)
    try:
        document = json.loads(args.micro_json.read_text())
    except (OSError, ValueError) as exc:
        parser.exit(
            2, f"python -m bench.micro.summary: error: cannot read {args.micro_json}: {exc}\n"
        )
    print(render(document))
    if args.previous and args.previous.is_file():
        print("\ncompared with " + str(args.previous) + ":")
        for note in compare(document, json.loads(args.previous.read_text())):
            print("  " + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
