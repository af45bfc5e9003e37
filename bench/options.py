"""The command line's vocabulary: one flag, one meaning, in every subcommand of `python -m bench`.

`--servers` chooses servers (catalog rows, or models where a scenario runs models), `--workloads`
and `--users` the load, `--duration` and `--warmup` take units (500ms, 3s, 2m), `--timeout` is how
long one request may take, `--out` the results folder, `--quiet` fewer lines. Each subcommand
adds the ones that mean something for it, with its own defaults.

Every option is defined once, in OPTIONS, as gunicorn defines its settings: its flags, its type,
what it means, the field of the run's Settings (bench/plan.py) it fills, and, for each subcommand
that has it, what differs there (a default, the words of its help). Each subcommand's parser is
made from it (Command), `python -m bench run` fills its Settings from it (given), and
docs/options.md is written from it (markdown: `python -m bench options > docs/options.md`).
"""

from __future__ import annotations

import argparse
import builtins
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.catalog import APP_WORKLOAD, MODES, SERVERS, WORKLOADS, Catalog
from bench.contract import CLIENTS, split_address
from bench.plan import PROFILES

# the values a flag takes ---------------------------------------------------------------------

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
        chosen = entries(text)
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


def entries(text: str) -> tuple[str, ...]:
    """A comma-separated list, perhaps empty."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def listed(text: str) -> tuple[str, ...]:
    """A comma-separated list of names, checked later (against a catalog the options extend)."""
    chosen = entries(text)
    if not chosen:
        raise argparse.ArgumentTypeError("empty list")
    return chosen


class Runnable(argparse.Action):
    """A scenario's --servers, resolved against this machine as it is parsed (the catalog's
    `resolve`, which run's plan uses too): a server that cannot run here is named on standard
    error with how to get it, and left out; with none left, a one-line error (exit 2)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        resolved = Catalog.standard().resolve(values)
        if not resolved.servers:
            parser.exit(2, f"{parser.prog}: error: {resolved.error()}\n")
        for line in resolved.lines():
            print(f"{parser.prog}: {line}", file=sys.stderr)
        setattr(namespace, self.dest, resolved.servers)


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


def rates(text: str) -> tuple[float, ...]:
    """Offered rates, requests per second: 10,20,40."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected rates like 10,20,40, got {text!r}") from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise argparse.ArgumentTypeError("each rate must be a number above 0")
    return values


def milliseconds(text: str) -> float:
    """'100' or '100ms' or '0.1s': milliseconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return duration(text) * 1000


def percent(text: str) -> float:
    """'0.1' or '0.1%': a fraction (0.001)."""
    try:
        return float(text.strip().removesuffix("%")) / 100
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage like 0.1, got {text!r}") from None


def interval(text: str) -> tuple[float, float]:
    """LOW,HIGH seconds, from 1 ms to 1 s."""
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH in seconds, got {text!r}") from None
    if not 0.001 <= low <= high <= 1.0:
        raise argparse.ArgumentTypeError("want 0.001 <= LOW <= HIGH <= 1 second")
    return low, high


# the table -----------------------------------------------------------------------------------

RUN = "run"  # the subcommand whose Settings (bench/plan.py) the options' `setting` names
SAME: Any = object()  # in a Use: as the option's row says


@dataclass(frozen=True)
class Use:
    """An option in one subcommand: what differs there from its row (SAME: as the row says)."""

    default: Any = SAME
    help: Any = SAME
    flags: Any = SAME
    dest: Any = SAME
    type: Any = SAME
    choices: Any = SAME
    metavar: Any = SAME
    action: Any = SAME


@dataclass(frozen=True)
class Option:
    """One option, defined once: its flags (the first names it; the others are other spellings),
    what it means, and in which subcommands it is (`commands`, with what differs in each).

    In `help`, {default} is the option's default (a parenthesis holding it is left out where it
    has none: in run, where a profile gives the default, unless every profile gives the same),
    {choices} what it chooses from, {command} the subcommand."""

    flags: tuple[str, ...]
    help: str
    commands: Mapping[str, Use]
    type: Callable[[str], Any] | None = None  # `names`: a comma-separated list of the choices
    action: str | builtins.type[argparse.Action] | None = None
    default: Any = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    dest: str | None = None
    nargs: str | None = None
    required: bool = False
    setting: str | None = None  # the field of the run's Settings it fills
    show: Callable[[Any], str] | None = None  # how its default reads, if not as `shown` says
    group: str | None = None  # its section of run's --help (GROUPS)

    @property
    def key(self) -> str:
        """Its name in the parsed arguments (argparse's dest)."""
        return self.dest or self.flags[0].lstrip("-").replace("-", "_")

    def within(self, command: str) -> Option:
        """The option as `command` has it."""
        changes = {k: v for k, v in vars(self.commands[command]).items() if v is not SAME}
        return replace(self, **changes, setting=self.setting if command == RUN else None)

    def argument(self) -> tuple[tuple[str, ...], dict[str, Any]]:
        """add_argument's arguments. Choices that a type checks (`names`), or that only the help
        names (run's --servers: the plan checks them), are not argparse's."""
        listed_choices: Callable[[Iterable[str]], Callable[[str], Any]] = names
        checked = listed_choices(self.choices or ()) if self.type is names else self.type
        arguments: dict[str, Any] = {"type": checked}
        arguments["choices"] = self.choices if self.type is None else None
        arguments |= {"action": self.action, "metavar": self.metavar, "dest": self.dest}
        arguments |= {"nargs": self.nargs, "required": self.required or None}
        arguments = {name: value for name, value in arguments.items() if value is not None}
        return self.flags, arguments | {"help": self.help, "default": self.default}


GROUPS = {  # sections of run's --help
    "yours": (
        "your own servers and application",
        "Added servers join every workload they can serve (and the profile's servers, unless "
        "--servers names them), with the same verification, telemetry and ranking as ours.",
    ),
    "reach": (
        "CPUs, load generators, other machines",
        "By default the server gets one CPU (a server of N workers N, up to half the machine) "
        "and one locust process per remaining CPU loads it. See docs/distributed.md.",
    ),
}

_ONE_WORKLOAD = {"dest": "workload", "type": None, "choices": tuple(WORKLOADS), "default": "hello"}
_MODELS = "comma-separated models, from: {choices} (default: {default})"
_BOTH_WAYS = argparse.BooleanOptionalAction

# Every option of every subcommand, in the order their --help lists them.
OPTIONS: tuple[Option, ...] = (
    Option(
        ("--profile",),
        "quick: a smoke run of under a minute; default: the answer in about seven minutes; "
        "full: every workload, level and mode, the peers too, once each, six runs of the ranked "
        "cells (hello and io at 16 users), the scenarios: about 75 minutes",
        {RUN: Use()},
        choices=tuple(PROFILES),
        default="default",
    ),
    Option(
        ("--servers", "--models"),
        "comma-separated servers, from: {choices} (default: {default})",
        {
            # checked, and resolved against this machine, by the plan: --add-server
            RUN: Use(type=listed, choices=tuple(SERVERS), action=None),
            "capacity": Use(
                help="comma-separated servers (the leaking fork models are refused), from: "
                "{choices} (default: {default})"
            ),
            "ceiling": Use(
                help="comma-separated servers (a pairing runs when it has one), from: {choices} "
                "(default: {default})"
            ),
            "crosscheck": Use(("asyncio", "threaded", "prefork")),
            "scale": Use(help=_MODELS),
            "slowclients": Use(help=_MODELS),
            "soak": Use(help=_MODELS),
            "hostile": Use(),
            "conformance": Use(),
        },
        type=names,
        action=Runnable,
        dest="servers",
        metavar="NAME,...",
        setting="servers",
    ),
    Option(
        ("--slow",),
        "slow clients (default {default})",
        {
            "slowclients": Use(),
            "soak": Use(
                4,
                "slow clients, each cut by the header timeout and opened again (default {default})",
            ),
        },
        int,
        default=8,
    ),
    Option(
        ("--workloads",),
        "comma-separated workloads, from: {choices} (app: the application --app names)",
        {
            RUN: Use(),
            "capacity": Use(
                help="the workload swept (one; default {default})",
                flags=("--workloads", "--workload"),
                **_ONE_WORKLOAD,
            ),
            "crosscheck": Use(
                help="the workload (default {default})", flags=("--workload",), **_ONE_WORKLOAD
            ),
        },
        names,
        choices=(*WORKLOADS, APP_WORKLOAD),
        setting="workloads",
    ),
    Option(
        ("--users",),
        "concurrency levels, e.g. 1,16,64",
        {
            RUN: Use(),
            "capacity": Use(16, "connections sharing the schedule (default {default})", type=int),
            "crosscheck": Use(8, "locust users = wrk connections (default {default})", type=int),
            "slowclients": Use(8, "normal users (default {default})", type=int),
            "overhead": Use(16, "users of each client (default {default})", type=int),
            "soak": Use(
                4,
                "normal users, each a keep-alive connection at 25 requests a second (default "
                "{default})",
                type=int,
            ),
        },
        users,
        setting="users",
    ),
    Option(
        ("--modes",),
        "keepalive and/or close (a new connection per request)",
        {RUN: Use()},
        names,
        choices=MODES,
        setting="modes",
    ),
    Option(("--start",), "the first rate (default {default})", {"capacity": Use()}, float),
    Option(
        ("--factor",),
        "each rate is the last times this (default {default})",
        {"capacity": Use()},
        float,
    ),
    Option(
        ("--rates",), "explicit rising rates instead, e.g. 10,20,40", {"capacity": Use()}, rates
    ),
    Option(
        ("--max-rate",),
        "no rate above this (default {default}, more than one core of load sends here: a "
        "sweep ends at the server's knee, or at the first generator-bound step, and says so)",
        {"capacity": Use()},
        float,
        show=lambda rate: f"{rate:,.0f}",
    ),
    Option(
        ("--p99-limit",),
        "a step passes with p99 (from the intended send) at most this many ms (default {default})",
        {"capacity": Use()},
        milliseconds,
        default=100.0,
        metavar="MS",
    ),
    Option(
        ("--error-limit",),
        "and with at most this percentage of requests failed or never sent (default {default})",
        {"capacity": Use()},
        percent,
        default=0.001,
        metavar="PERCENT",
        show=lambda fraction: f"{fraction * 100:g}",
    ),
    Option(
        ("--port",),
        "the port of the server, on the loopback",
        {"holder": Use()},
        int,
        required=True,
    ),
    Option(("--count",), "idle connections to open", {"holder": Use()}, int, required=True),
    Option(
        ("--counts",),
        "idle connections to hold, comma-separated (default {default})",
        {"scale": Use()},
        default="100,1000,10000",
    ),
    Option(
        ("--duration",),
        "measured time per cell, e.g. 10s (default {default})",
        {
            RUN: Use(),
            "capacity": Use(2.0, "measured time per step (default {default})"),
            "ceiling": Use(
                5.0, "measured per run (whole seconds: wrk counts them) (default {default})"
            ),
            "crosscheck": Use(3.0, "measured by each (wrk: whole seconds) (default {default})"),
            "scale": Use(
                1.0,
                "how long each step holds its connections before it is measured (default "
                "{default})",
                flags=("--duration", "--settle"),
            ),
            "slowclients": Use(3.0, "measured per phase (default {default})"),
            "overhead": Use(3.0, "window per run (default {default})"),
            "soak": Use(60.0, "per server, e.g. 10m (default {default})"),
            "lesson": Use(6.0, "about how long the load lasts, from 1s to 15s (default {default})"),
        },
        duration,
        setting="duration_s",
    ),
    Option(
        ("--warmup",),
        "warm-up, not recorded (default {default})",
        {
            RUN: Use(),
            "capacity": Use(0.5),
            "ceiling": Use(1.0),
            "crosscheck": Use(0.5),
            "slowclients": Use(0.5),
            "soak": Use(
                None,
                "left out of the slope fit (default: a fifth of --duration, at least 30s, at most "
                "half of it)",
            ),
        },
        duration,
        setting="warmup_s",
    ),
    Option(
        ("--settle",),
        "telemetry kept after the load, to see whether leaks go away (default {default})",
        {
            RUN: Use(),
            "holder": Use(
                1.0, "how long the connections are held before they are checked (default {default})"
            ),
        },
        duration,
        setting="settle_s",
    ),
    Option(
        ("--sample",),
        "held connections given one GET (default {default})",
        {"scale": Use(), "holder": Use()},
        int,
        default=16,
    ),
    Option(
        ("--fresh",),
        "new connections given one GET (default {default})",
        {"scale": Use(), "holder": Use()},
        int,
        default=8,
    ),
    Option(
        ("--repeat",),
        "runs of each repeated cell, in rounds shuffled anew each round (5 or more can tell two "
        "servers apart; from 6, the report gives 95 %% intervals)",
        {RUN: Use()},
        int,
        setting="repeat",
    ),
    Option(
        ("--repeat-only",),
        "repeat only these levels, e.g. hello@16,io@16; the others run once, first",
        {RUN: Use()},
        entries,
        metavar="WORKLOAD@USERS,...",
        setting="repeat_only",
    ),
    Option(
        ("--seed",),
        "the seed of the rounds' shuffle (default {default}): same seed, same order",
        {RUN: Use()},
        int,
        setting="seed",
    ),
    Option(
        ("--open-rate",),
        "also an open-loop cell per server at this offered rate (requests on a fixed schedule, "
        "latency from the due time); 0: none",
        {RUN: Use()},
        float,
        metavar="REQ_PER_S",
        setting="open_rate",
    ),
    Option(
        ("--open-workloads",),
        "the workloads that get the open-loop cell (default: the profile's, or all)",
        {RUN: Use()},
        names,
        choices=tuple(WORKLOADS),
        setting="open_workloads",
    ),
    Option(
        ("--rounds",),
        "A B A B rounds (default {default})",
        {"ceiling": Use(), "overhead": Use(help="alternated rounds (default {default})")},
        int,
        default=3,
    ),
    Option(("--connections",), "wrk connections", {"ceiling": Use()}, int, default=50),
    Option(
        ("--mode",),
        "keep-alive, or a new connection per request (default {default})",
        {"crosscheck": Use()},
        choices=MODES,
        default="keepalive",
    ),
    Option(
        ("--interval",),
        "seconds between a slow client's bytes, spread over the clients (default {default})",
        {"slowclients": Use(), "soak": Use()},
        interval,
        default=(0.05, 0.1),
        metavar="LOW,HIGH",
    ),
    Option(
        ("--timeout",),
        "a request unanswered this long fails; after a cell, a server that does not answer "
        "within it has hung (default {default})",
        {
            RUN: Use(flags=("--timeout", "--request-timeout")),
            "scale": Use(2.0, "for each connect and each GET (default {default})"),
            "slowclients": Use(
                2.0, "a normal request unanswered this long fails (default {default})"
            ),
            "hostile": Use(4.0, "how long a case may take (default {default})"),
            "soak": Use(
                2.0, "a normal request unanswered this long fails the soak (default {default})"
            ),
            "conformance": Use(
                2.0,
                "how long a case waits for its answers; our models answer 408 to a request cut "
                "short after 1 s (default {default})",
            ),
            "holder": Use(2.0, "for each connect and each GET (default {default})"),
            "lesson": Use(
                5.0,
                "a request unanswered this long fails, from 0.5s to 8s, and never before the "
                "wait the lesson makes on purpose (default {default})",
            ),
        },
        duration,
        setting="request_timeout_s",
    ),
    Option(
        ("--start-timeout",),
        "a server not listening this long after its start fails its cell (default {default})",
        {RUN: Use()},
        duration,
        setting="start_timeout_s",
    ),
    Option(
        ("--generator-grace",),
        "a load generator still busy this long after its cell should have ended is killed "
        "(default {default})",
        {RUN: Use()},
        duration,
        setting="generator_grace_s",
    ),
    Option(
        ("--request-cap",),
        "requests per cell for the leaking servers (fork, fork_leak, fork_wait)",
        {
            RUN: Use(),
            "slowclients": Use(
                300, "requests per phase for fork, fork_leak, fork_wait (default {default})"
            ),
        },
        int,
        metavar="N",
        setting="request_cap",
    ),
    Option(
        ("--fork-cap",),
        "at most this many connections for the fork models (default {default}, at most 1024)",
        {"scale": Use()},
        int,
        default=256,
    ),
    Option(
        ("--client",),
        "the load generator's client: raw (ours: raw sockets and httptools, the default) or "
        "fasthttp (locust's FastHttpUser, several times more CPU per request)",
        {RUN: Use()},
        choices=CLIENTS,
        setting="client",
    ),
    Option(
        ("--no-cpu-split",),
        "do not pin the server and the load generator to different CPUs",
        {RUN: Use(), "capacity": Use(True)},
        action="store_false",
        dest="cpu_split",
        setting="cpu_split",
    ),
    Option(
        ("--no-ceiling",),
        "skip measuring the load generator's ceiling (context only)",
        {RUN: Use()},
        action="store_false",
        dest="ceiling",
        setting="ceiling",
    ),
    Option(
        ("--wrk-bound-cells",),
        "measure the generator-bound cells of non-leaking servers with wrk too, where wrk is "
        "installed (default: {default})",
        {RUN: Use()},
        action=_BOTH_WAYS,
        setting="wrk_bound_cells",
    ),
    Option(
        ("--crosscheck",),
        "measure every closed-loop cell with wrk too (the full profile does)",
        {RUN: Use()},
        action=_BOTH_WAYS,
        setting="crosscheck",
    ),
    Option(
        ("--scenarios",),
        "after the cells: the capacity sweep, C10K and slow clients (the full profile does), "
        "for the servers of the run",
        {RUN: Use()},
        action=_BOTH_WAYS,
        setting="scenarios",
    ),
    Option(
        ("--add-server",),
        "a server of yours; COMMAND uses {port} (required), {host}, {app} (the workload's WSGI "
        "application), {workers} and {python}, e.g. 'mine=gunicorn -b {host}:{port} {app}' "
        "(repeatable)",
        {RUN: Use()},
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        group="yours",
    ),
    Option(
        ("--servers-file",),
        "servers of yours, one [servers.NAME] table each: command, and optionally interface "
        "(wsgi/asgi), workers, workloads, description",
        {RUN: Use()},
        Path,
        metavar="TOML",
        group="yours",
    ),
    Option(
        ("--app",),
        "your application, importable from here: the 'app' workload (instead of the profile's, "
        "unless --workloads names them too)",
        {RUN: Use()},
        metavar="MODULE:CALLABLE",
        group="yours",
    ),
    Option(
        ("--interface",),
        "how to call --app; auto takes ASGI for a coroutine function (default {default})",
        {RUN: Use()},
        choices=("auto", "wsgi", "asgi"),
        default="auto",
        group="yours",
    ),
    Option(
        ("--path",),
        "the path of --app to load (default {default})",
        {RUN: Use()},
        default="/",
        group="yours",
    ),
    Option(
        ("--expect-status",),
        "the status a right answer from --app carries (default {default})",
        {RUN: Use()},
        int,
        default=200,
        metavar="CODE",
        group="yours",
    ),
    Option(
        ("--expect-body",),
        "the exact body a right answer from --app carries (default: not checked)",
        {RUN: Use()},
        metavar="TEXT",
        group="yours",
    ),
    Option(
        ("--server-cpus",),
        "the servers' CPUs, e.g. 0-1",
        {RUN: Use()},
        cpus,
        metavar="CPUS",
        setting="server_cpus",
        group="reach",
    ),
    Option(
        ("--generator-cpus",),
        "the generator's CPUs, e.g. 2-7",
        {RUN: Use()},
        cpus,
        metavar="CPUS",
        setting="generator_cpus",
        group="reach",
    ),
    Option(
        ("--generator-processes",),
        "locust processes on a pipe of their own (default: one per generator CPU)",
        {RUN: Use()},
        count,
        metavar="N",
        setting="generator_processes",
        group="reach",
    ),
    Option(
        ("--generator-workers",),
        "drive locust as a master with N workers started here (on the generator's CPUs)",
        {RUN: Use()},
        count,
        metavar="N",
        setting="generator_workers",
        group="reach",
    ),
    Option(
        ("--remote-workers",),
        "also wait for N workers started elsewhere (python -m bench worker --master HOST:PORT), "
        "which load the server named by --target; name --master-bind so that they can reach the "
        "master",
        {RUN: Use()},
        count,
        metavar="N",
        setting="remote_workers",
        group="reach",
    ),
    Option(
        ("--master-bind",),
        "where the locust master listens for its workers (default 127.0.0.1 and a free port: "
        "this machine only)",
        {RUN: Use()},
        address,
        metavar="HOST:PORT",
        setting="master_bind",
        group="reach",
    ),
    Option(
        ("--target",),
        "measure a server running elsewhere (http://HOST:PORT), which the harness neither starts "
        "nor watches: no telemetry, no service demand; the load goes to the address named",
        {RUN: Use()},
        metavar="URL",
        group="reach",
    ),
    Option(
        ("--out",),
        "the results folder (default results/{command}-TIME)",
        {
            name: Use()
            for name in (
                RUN,
                "micro",
                "capacity",
                "scale",
                "slowclients",
                "crosscheck",
                "ceiling",
                "overhead",
                "conformance",
                "soak",
            )
        },
        Path,
    ),
    Option(
        ("--quiet",),
        "no live progress, fewer lines",
        {RUN: Use(), "capacity": Use()},
        action="store_true",
        default=False,
    ),
    Option(
        ("--no-micro",),
        "skip the micro-benchmarks that the default and full profiles run",
        {RUN: Use()},
        action="store_true",
        default=False,
    ),
    Option(
        ("--redraw",),
        "rebuild DIR/ceiling.md from DIR/ceiling.json without measuring",
        {"ceiling": Use()},
        Path,
        metavar="DIR",
    ),
    Option(
        ("lesson",),
        "the lesson: {choices}",
        {"lesson": Use()},
        nargs="?",
        metavar="NAME",
    ),
    Option(
        ("--list",),
        "each lesson and what it shows, one line each",
        {"lesson": Use()},
        action="store_true",
        default=False,
    ),
    Option(
        ("--neighbour",),
        "the lesson's load on its neighbour model instead (the fix, or the model it fixes): "
        "the other verdict",
        {"lesson": Use()},
        action="store_true",
        default=False,
    ),
    Option(("first",), "a run's folder (the earlier)", {"compare": Use()}, Path),
    Option(("second",), "another run's folder (the later)", {"compare": Use()}, Path),
    Option(
        ("folder",), "a results folder (default results/latest)", {"report": Use()}, Path, nargs="?"
    ),
    Option(
        ("--svg",),
        "SVG files beside the PNGs",
        {"report": Use()},
        action="store_true",
        default=False,
    ),
    Option(
        ("--hgrm",),
        "a run's latency histograms as HdrHistogram percentile distributions (hgrm/)",
        {"report": Use()},
        action="store_true",
        default=False,
    ),
    Option(
        ("--master",),
        "the run's master, HOST:PORT",
        {"worker": Use()},
        address,
        required=True,
    ),
)


# defaults and help ---------------------------------------------------------------------------


def defaults(option: Option) -> dict[str, Any]:
    """Its default; in run, where it has none of its own, each profile's (by profile)."""
    if option.default is None and option.setting:
        return {name: getattr(settings, option.setting) for name, settings in PROFILES.items()}
    return {"": option.default}


def shown(option: Option, value: Any) -> str:
    """A default as help and docs/options.md say it."""
    if option.show is not None:
        return option.show(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple | list):
        return ",".join(shown(option, item) for item in value) or "—"
    if isinstance(value, float):
        return f"{value:g}" + ("s" if option.type is duration else "")
    return str(value)


_SAID_DEFAULT = re.compile(r" \([^()]*\{default\}[^()]*\)")


def described(option: Option, command: str) -> Option:
    """The option with its help as `command` says it."""
    text = option.help.replace("{choices}", ", ".join(option.choices or ()))
    text = text.replace("{command}", command)
    values = list(defaults(option).values())
    if values[0] is None or any(value != values[0] for value in values):
        text = _SAID_DEFAULT.sub("", text)
    else:
        text = text.replace("{default}", shown(option, values[0]))
    return replace(option, help=text)


# subcommands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A subcommand, its parser made from the OPTIONS it has. `choices` and `defaults` hold
    what only its own module knows (which servers it runs, say), by option key."""

    name: str
    prog: str | None = None  # None: python -m bench NAME
    description: str | None = None
    epilog: str | None = None
    choices: Mapping[str, Iterable[str]] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def options(self) -> list[Option]:
        """Its options, in the order of OPTIONS, as it has them."""
        chosen = []
        for row in OPTIONS:
            if self.name not in row.commands:
                continue
            option = row.within(self.name)
            if row.key in self.choices:
                option = replace(option, choices=tuple(self.choices[row.key]))
            if row.key in self.defaults:
                option = replace(option, default=self.defaults[row.key])
            chosen.append(described(option, self.name))
        return chosen

    def add_to(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sections: dict[str, Any] = {}
        for option in self.options():
            if option.group and option.group not in sections:
                sections[option.group] = parser.add_argument_group(*GROUPS[option.group])
            flags, arguments = option.argument()
            sections.get(option.group or "", parser).add_argument(*flags, **arguments)
        return parser

    def parser(
        self, kind: type[argparse.ArgumentParser] = argparse.ArgumentParser
    ) -> argparse.ArgumentParser:
        made = kind(prog=self.prog, description=self.description, epilog=self.epilog)
        return self.add_to(made)


def markdown(commands: Iterable[tuple[Command, str]]) -> str:
    """docs/options.md: each subcommand's options, their defaults and what they mean."""
    intro = " ".join(__doc__.split("\n\n")[:2]).replace("\n", " ")
    lines = [
        "# Options",
        "",
        "<!-- Made from bench/options.py by `python -m bench options > docs/options.md`; "
        "tests/test_cli.py fails when they differ. -->",
        "",
        intro,
        "",
        "In run, an option that the profile (`--profile`) sets has each profile's default.",
    ]
    for command, summary in commands:
        prog = command.prog or f"python -m bench {command.name}"
        lines += ["", f"## {command.name}", "", f"`{prog}`: {summary}"]
        options = command.options()
        for group in (None, *GROUPS):
            chosen = [option for option in options if option.group == group]
            if group and chosen:
                title, text = GROUPS[group]
                lines += ["", f"### {title}", "", text]
            if chosen:
                lines += ["", "| option | default | meaning |", "| --- | --- | --- |"]
                lines += [_row(option) for option in chosen]
        if not options:
            lines += ["", "No options."]
    return "\n".join(lines) + "\n"


def _row(option: Option) -> str:
    cells = (_spelling(option), _default(option), option.help.replace("%%", "%"))
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _spelling(option: Option) -> str:
    if not option.flags[0].startswith("-"):  # a positional argument
        return f"`[{option.flags[0]}]`" if option.nargs == "?" else f"`{option.flags[0]}`"
    first, *others = option.flags
    if option.action is _BOTH_WAYS:
        others.append(f"--no-{first[2:]}")
    elif option.action not in ("store_true", "store_false"):
        first += " " + _metavar(option)
    return f"`{first}`" + "".join(f", `{other}`" for other in others)


def _metavar(option: Option) -> str:
    """The option's value as argparse's usage names it."""
    if option.metavar:
        return option.metavar
    if option.choices and option.type is None:
        return "{" + ",".join(option.choices) + "}"
    return option.key.upper()


def _default(option: Option) -> str:
    values = defaults(option)
    if option.action in ("store_true", "store_false"):  # on: the flag's effect
        values = {name: value == (option.action == "store_true") for name, value in values.items()}
    said = {name: "—" if value is None else shown(option, value) for name, value in values.items()}
    if option.required:
        return "required"
    if len(set(said.values())) == 1:
        return said.popitem()[1]
    return "; ".join(f"{name}: {value}" for name, value in said.items())


# run: its Settings and the rules between its options -----------------------------------------


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The fields of the run's Settings that the options given set, and their values."""
    chosen = {}
    for row in OPTIONS:
        value = getattr(args, row.within(RUN).key) if RUN in row.commands else None
        if row.setting and value is not None:
            chosen[row.setting] = value
    return chosen


def changed(args: argparse.Namespace, *keys: str) -> bool:
    """Whether any of run's options `keys` was given another value than its default."""
    rows = {row.key: row for row in OPTIONS if RUN in row.commands}
    return any(getattr(args, key) != rows[key].within(RUN).default for key in keys)


class OptionError(ValueError):
    """Options of run that do not go together; the message says why in one line."""


def check_option_combinations(args: argparse.Namespace, added: Sequence[str]) -> None:
    """The rules between run's options: each added server named once (--add-server and
    --servers-file, `added` their names); --remote-workers only with --target; either
    --generator-processes or a master with workers; --interface, --path and --expect-* only with
    --app (or --target); --target alone, without --servers or added servers."""
    if len(set(added)) < len(added):
        raise OptionError(f"a server is added twice: {', '.join(added)}")
    if args.remote_workers and not args.target:
        raise OptionError(
            "--remote-workers load from other machines, which cannot reach this one's loopback "
            "servers: name the server with --target http://HOST:PORT"
        )
    if args.generator_processes is not None and (args.generator_workers or args.remote_workers):
        raise OptionError("--generator-processes or a master with workers, not both")
    if args.interface != "auto" and not (args.app or args.target):
        raise OptionError("--interface says how to call --app; name it too")
    if args.target and (args.servers is not None or args.add_server or args.servers_file):
        raise OptionError(
            "--target measures the server at its address only: no --servers, no added ones"
        )
    if changed(args, "path", "expect_status", "expect_body") and not (args.app or args.target):
        raise OptionError("--path and --expect-* describe --app (or --target); name it too")
