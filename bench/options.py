"""The command line's vocabulary: one flag, one meaning, in every subcommand of `python -m bench`.

`--servers` chooses servers (catalog rows, or models where a scenario runs models), `--workloads`
and `--users` the load, `--duration` and `--warmup` take units (500ms, 3s, 2m), `--timeout` is how
long one request may take, `--out` the results folder, `--quiet` fewer lines. Each subcommand
adds the ones that mean something for it, with its own defaults.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from bench.contract import split_address

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


def duration(text: str) -> float:
    """'10s', '500ms', '2m' or '1.5' (seconds)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration like 10s, 500ms or 2m, got {text!r}")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


def names(choices: Iterable[str]) -> Callable[[str], tuple[str, ...]]:
    """A comma-separated list of names, each one of `choices`."""
    known = list(choices)

    def parse(text: str) -> tuple[str, ...]:
        chosen = tuple(part.strip() for part in text.split(",") if part.strip())
        unknown = [name for name in chosen if name not in known]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(known)}"
            )
        return chosen

    return parse


def count(text: str) -> int:
    """A whole number from 0."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number from 0, got {text!r}")
    return int(text)


def users(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,16,64, got {text!r}") from None
    if not levels or any(not 1 <= level <= 1000 for level in levels):
        raise argparse.ArgumentTypeError("each level must be from 1 to 1000 users")
    return levels


def listed(text: str) -> tuple[str, ...]:
    """A comma-separated list of names, checked later (against a catalog the options extend)."""
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    if not chosen:
        raise argparse.ArgumentTypeError("empty list")
    return chosen


def cpus(text: str) -> tuple[int, ...]:
    """CPU numbers as taskset takes them: 0, 0-3, 0,2,4-5."""
    chosen: set[int] = set()
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            first, dash, last = part.partition("-")
            chosen.update(range(int(first), int(last if dash else first) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected CPUs like 0 or 0-3 or 0,2, got {text!r}"
        ) from None
    if not chosen:
        raise argparse.ArgumentTypeError("no CPU named")
    return tuple(sorted(chosen))


def address(text: str) -> str:
    """HOST:PORT (an IPv6 address in brackets; port 0: one chosen then), checked."""
    try:
        split_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_servers(
    parser: argparse.ArgumentParser,
    choices: Iterable[str],
    default: Iterable[str] | None = None,
    what: str = "servers",
    checked: bool = True,
) -> None:
    """--servers a,b,c (and --models, the older spelling, for the same thing). Unchecked where
    other options may add servers (run's --add-server): the plan checks the names then."""
    known = list(choices)
    chosen = ",".join(default) if default is not None else None
    parser.add_argument(
        "--servers",
        "--models",
        dest="servers",
        type=names(known) if checked else listed,
        default=tuple(default) if default is not None else None,
        metavar="NAME,...",
        help=f"comma-separated {what}, from: {', '.join(known)}"
        + (f" (default: {chosen})" if chosen else ""),
    )


def add_duration(
    parser: argparse.ArgumentParser, default: float | None, what: str = "measured time per cell"
) -> None:
    shown = f" (default {default:g}s)" if default is not None else ""
    parser.add_argument("--duration", type=duration, default=default, help=f"{what}{shown}")


def add_warmup(parser: argparse.ArgumentParser, default: float | None) -> None:
    shown = f" (default {default:g}s)" if default is not None else ""
    parser.add_argument(
        "--warmup", type=duration, default=default, help=f"warm-up, not recorded{shown}"
    )


def add_timeout(parser: argparse.ArgumentParser, default: float | None, what: str) -> None:
    shown = f" (default {default:g}s)" if default is not None else ""
    parser.add_argument("--timeout", type=duration, default=default, help=f"{what}{shown}")


def add_out(parser: argparse.ArgumentParser, kind: str) -> None:
    parser.add_argument(
        "--out", type=Path, default=None, help=f"the results folder (default results/{kind}-TIME)"
    )


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no live progress, fewer lines")
