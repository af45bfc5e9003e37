"""What the learner sees: the live counts with a sparkline each while the lesson runs, then the
verdict and the code that causes it (rich)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from bench.lessons.judge import Verdict

SPARKS = "▁▂▃▄▅▆▇█"
WIDTH = 32  # the sparklines' characters: the whole lesson, squeezed


def sparkline(values: Sequence[float], width: int = WIDTH, top: float | None = None) -> str:
    """`values` as one line of block characters, `width` at most (each the highest value of its
    share of the series), scaled from 0 to `top` (default: their highest)."""
    if not values:
        return ""
    buckets = min(width, len(values))
    highs = [
        max(values[len(values) * i // buckets : max(len(values) * (i + 1) // buckets, 1)])
        for i in range(buckets)
    ]
    ceiling = top if top is not None else max(highs)
    if ceiling <= 0:
        return SPARKS[0] * buckets
    steps = len(SPARKS) - 1
    return "".join(SPARKS[round(min(max(v, 0), ceiling) / ceiling * steps)] for v in highs)


@dataclass(frozen=True)
class Reading:
    """The counts at one moment of the lesson: the server's tree, the kernel's accept queue, the
    clients and the server's own count of accept() failures."""

    t: float
    zombies: int
    children: int
    parent_fds: int
    threads: int
    waiting: int  # clients sent and not answered yet
    queued: int  # of which in the listen backlog, not accepted (the kernel's count)
    answered: int
    failed: int
    emfile: int
    oldest_wait_s: float

    @property
    def in_progress(self) -> int:
        """Requests the server has accepted and not answered yet."""
        return max(self.waiting - self.queued, 0)


ROWS = (  # (field, label): the live table's rows, in order
    ("zombies", "zombies"),
    ("children", "children alive"),
    ("parent_fds", "descriptors (parent)"),
    ("threads", "threads"),
    ("in_progress", "requests in progress"),
    ("queued", "waiting to be accepted"),
    ("waiting", "clients waiting"),
    ("oldest_wait_s", "the longest wait now"),
    ("answered", "answered"),
    ("failed", "failed"),
    ("emfile", "accept() failed: EMFILE"),
)


def live_view(
    title: str, what: str, subtitle: str, readings: list[Reading], nofile: int, key: tuple[str, ...]
) -> Panel:
    """The live counts, each with its value now and its sparkline since the start; the lesson's
    own rows in bold."""
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="left", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(justify="left", no_wrap=True, overflow="crop")
    for name, label in ROWS:
        series = [getattr(r, name) for r in readings]
        value = str(series[-1]) if series else "-"
        top = None
        if name == "parent_fds":
            value, top = f"{value} of {nofile}", nofile
        if name == "oldest_wait_s":
            value = f"{series[-1]:.1f} s" if series else "-"
        style = "bold yellow" if name in key else ""
        table.add_row(Text(label, style), Text(value, style), Text(sparkline(series, top=top)))
    return Panel(
        Group(Text(what, style="italic"), Text(), table),
        title=title,
        subtitle=subtitle,
        title_align="left",
    )


def verdict_view(verdict: Verdict, diff: list[str], caption: str) -> Group:
    """The verdict, then the lines of code that cause it."""
    mark, style = ("shown", "bold green") if verdict.shown else ("not shown", "bold red")
    code = Syntax(
        "\n".join(diff), "diff", theme="ansi_dark", background_color="default", word_wrap=True
    )
    parts: list[RenderableType] = [
        Text.assemble((f"verdict: {mark}: ", style), verdict.headline),
        Text(caption, style="dim"),
        code,
    ]
    return Group(*parts)
