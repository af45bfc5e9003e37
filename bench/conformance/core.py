"""Run the corpus against the protocol core in-process: each case fed whole, a byte at a time and
in a few seeded random splits, as a server's reads would cut it.

A case passes when every feed gives the same outcome and that outcome is the expected one. The
results keep, for each failure, what came out instead, so a table of class by verdict (and the
report of a fault) can be built from them without running anything again.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bench.conformance.cases import Case, Continue, Incomplete, Outcome, Refused, Served
from servers.parser import ExpectContinue, ProtocolError, Request, RequestParser

RANDOM_SPLITS = 3
SEED = 9112


@dataclass(frozen=True)
class Result:
    """One case's verdict; `outcomes` maps each feed's name to what it produced (Outcomes, or
    what else a server over a socket did: bench/conformance/sockets.py)."""

    case: Case
    outcomes: Mapping[str, tuple[object, ...]]

    @property
    def passed(self) -> bool:
        return all(outcome == self.case.expected for outcome in self.outcomes.values())

    @property
    def verdict(self) -> str:
        if self.passed:
            return "pass"
        return "fail" if len(set(self.outcomes.values())) == 1 else "split-dependent"

    def describe(self) -> str:
        """The case, what it expects and what each disagreeing feed gave, for a failure message."""
        lines = [f"{self.case.name} ({self.case.rule}): {self.verdict}"]
        lines.append(f"  sent     {self.case.data[:200]!r}")
        lines.append(f"  expected {self.case.expected}")
        for feed, outcome in self.outcomes.items():
            if outcome != self.case.expected:
                lines.append(f"  {feed:<8} {outcome}")
        return "\n".join(lines)


def cuts(size: int, rng: random.Random) -> list[int]:
    """Up to eight sorted cut points inside a stream of `size` bytes."""
    return sorted(rng.sample(range(1, size), min(size - 1, rng.randint(1, 8)))) if size > 1 else []


def feeds(data: bytes, seed: int = SEED) -> dict[str, list[bytes]]:
    """The reads each feed makes of `data`: whole, a byte at a time, and seeded random splits."""
    rng = random.Random(f"{seed}:{len(data)}:{data[:64]!r}")
    found = {"whole": [data], "bytewise": [data[i : i + 1] for i in range(len(data))]}
    for n in range(RANDOM_SPLITS):
        points = cuts(len(data), rng)
        found[f"split{n + 1}"] = [
            data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)
        ]
    return found


def outcome(case: Case, reads: Iterable[bytes]) -> tuple[Outcome, ...]:
    """What the core makes of `reads`: the messages it serves and how it ends, as a server would
    act on them (nothing after a refusal or after a request whose answer closes the connection)."""
    parser = RequestParser(case.limits)
    seen: list[Outcome] = []
    for data in reads:
        for event in parser.feed(data):
            seen.append(_as_outcome(event))
            if isinstance(seen[-1], Refused) or getattr(seen[-1], "close", False):
                return tuple(seen)
    if parser.in_request:
        seen.append(Incomplete())
    return tuple(seen)


def _as_outcome(event: Request | ProtocolError | ExpectContinue) -> Outcome:
    if isinstance(event, ProtocolError):
        return Refused(event.status)
    if isinstance(event, ExpectContinue):
        return Continue()
    return Served(
        event.method,
        event.target,
        tuple(event.headers),
        event.body,
        close=not event.keep_alive,
        version=event.http_version,
    )


def run_case(case: Case) -> Result:
    return Result(case, {name: outcome(case, reads) for name, reads in feeds(case.data).items()})


def run(cases: Sequence[Case]) -> list[Result]:
    """Every case's result, in the corpus's order."""
    return [run_case(case) for case in cases]


def table(results: Sequence[Result]) -> dict[str, dict[str, int]]:
    """Class by verdict: how many cases of each class passed, failed, or depended on the split."""
    counts: dict[str, dict[str, int]] = {}
    for result in results:
        row = counts.setdefault(result.case.cls, {"pass": 0, "fail": 0, "split-dependent": 0})
        row[result.verdict] += 1
    return counts
