"""`python -m bench lesson NAME` and `lesson --list`: a guided lesson in the terminal.

    python -m bench lesson --list
    python -m bench lesson fork [--duration 6s] [--timeout 5s] [--neighbour]

The lesson starts its model on the loopback, sends the load that shows it, draws the counts
live, and ends by itself within 30 s with the verdict from what it measured and the diff that
causes it; nothing it started is left running, Ctrl-C included.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.text import Text

from bench import options
from bench.launch import LaunchError
from bench.lessons import LESSONS, Lesson
from bench.lessons.diff import code_diff
from bench.lessons.judge import Verdict
from bench.lessons.view import verdict_view
from servers.clients.raw import visible

DURATION_S = (1.0, 15.0)  # with the timeout, start and stop: within 30 s
TIMEOUT_S = (0.5, 8.0)

COMMAND = options.Command(
    "lesson",
    prog="python -m bench lesson",
    description="A guided lesson: one model of the seed's progression under the load that shows "
    "its lesson, the counts live, then the verdict from what was measured and the code that "
    "causes it. Each ends by itself within 30 s.",
    epilog="Example: python -m bench lesson fork_wait; python -m bench lesson fork_wait "
    "--neighbour (the same load on fork_reap)",
    choices={"lesson": tuple(LESSONS)},
)


def listing() -> list[str]:
    """One line per lesson: its name, its model, what it shows."""
    return [f"{name:<10} {ls.setup.model:<10} {ls.title}" for name, ls in LESSONS.items()]


def main(argv: list[str] | None = None) -> int:
    parser = COMMAND.parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        print("\n".join(listing()))
        return 0
    if not args.lesson:
        parser.error(f"name a lesson: {', '.join(LESSONS)} (or --list)")
    for value, (low, high), flag in (
        (args.duration, DURATION_S, "--duration"),
        (args.timeout, TIMEOUT_S, "--timeout"),
    ):
        if not low <= value <= high:
            parser.error(f"{flag} must be from {low:g}s to {high:g}s (a lesson ends within 30 s)")
    from bench.lessons.run import run_lesson  # psutil, the session: only for a lesson to run

    lesson, console = LESSONS[args.lesson], Console()
    try:
        ran = run_lesson(lesson, args.duration, args.timeout, args.neighbour, console)
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted: the server was stopped and reaped[/]")
        return 130
    except LaunchError as exc:
        console.print(f"[red]python -m bench lesson: the server did not start: {exc.reason}[/]")
        return 1
    show(lesson, ran.verdict, ran.measured.model, ran.measured.exchange, console)
    left = ran.measured.left_running
    if left:
        console.print(f"[red]{len(left)} process(es) left running: {left}[/]")
        return 1
    console.print(f"[dim]{ran.measured.elapsed_s:.1f} s; nothing left running[/]")
    return 0


def show(
    lesson: Lesson, verdict: Verdict, model: str, exchange: tuple[bytes, bytes], console: Console
) -> None:
    """The verdict, what went over the wire (socket), the code."""
    console.print()
    if model != lesson.setup.model:
        console.print(Text(f"{lesson.name}'s load, run on its neighbour {model}:", style="dim"))
    if lesson.name == "socket" and exchange[0]:
        lines = visible(exchange[0], "> ") + visible(exchange[1], "< ")
        console.print(Text("on the wire, the first connection:\n" + "\n".join(lines)))
    console.print(verdict_view(verdict, code_diff(*lesson.diff), lesson.caption))
