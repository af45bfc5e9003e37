"""What a lesson measured, and its verdict from those figures alone.

`Measured` holds the server tree's samples (bench/telemetry), every request's outcome, the
server's own counts (its accept failures by errno, the most requests it had in progress) and
the plan it ran. Each judge reads it and says whether the lesson showed, in one sentence whose
numbers are the ones it judged on (`figures`): the same load on the lesson's neighbour gives the
other verdict, from the same arithmetic.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.lessons.load import Load, Outcome
from bench.record import ServerReports
from bench.telemetry import Sample

BODY = b"Hello, world!"  # what /hello/ answers


@dataclass(frozen=True)
class Verdict:
    shown: bool
    headline: str  # one sentence, its numbers those of `figures`
    figures: dict[str, float] = field(default_factory=dict)


@dataclass
class Measured:
    """One lesson's run: `model` served `load`; what the tree, the clients and the server said."""

    lesson: str
    model: str
    load: Load
    samples: list[Sample]
    outcomes: list[Outcome]
    nofile: int  # the server's descriptor limit (soft)
    reports: ServerReports
    elapsed_s: float  # the whole lesson, start and stop of the server included
    workers: int = 1  # processes that serve (prefork's --workers)
    exchange: tuple[bytes, bytes] = (b"", b"")
    left_running: tuple[int, ...] = ()  # processes of the server's still there after its stop

    @property
    def answered(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.latency_s is not None]

    @property
    def span_s(self) -> float:
        """From the first request sent to the last one answered."""
        done = self.answered
        if not done:
            return 0.0
        return max(o.ended for o in done) - min(o.started for o in self.outcomes)

    @property
    def overlap(self) -> float:
        """Views served at once, on average: the time the answered views took, over the time
        it took to answer them all (1: one after another)."""
        span = self.span_s
        return self.load.view_s * len(self.answered) / span if span > 0 else 0.0

    def latencies(self) -> list[float]:
        return sorted(o.latency_s for o in self.answered if o.latency_s is not None)

    def peak(self, name: str) -> int:
        return max((getattr(s, name) for s in self.samples), default=0)

    def last(self, name: str) -> int:
        """The count at the end: the last sample, once the load had settled."""
        return getattr(self.samples[-1], name) if self.samples else 0

    @property
    def emfile(self) -> int:
        return (self.reports.accept_failures_by_errno or {}).get("EMFILE", 0)

    def basics(self) -> dict[str, float]:
        """The figures every verdict carries."""
        waits = self.latencies()
        return {
            "sent": len(self.outcomes),
            "answered": len(waits),
            "failed": len(self.outcomes) - len(waits),
            "last_wait_s": waits[-1] if waits else 0.0,
            "p50_wait_s": statistics.median(waits) if waits else 0.0,
            "span_s": self.span_s,
            "elapsed_s": self.elapsed_s,
        }


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


# one judge per lesson --------------------------------------------------------------------------


def wire(m: Measured) -> Verdict:
    """socket: every connection answered with the fixed body and closed by the server."""
    done = m.answered
    right = sum(o.body == BODY for o in done)
    closed = sum(bool(o.closed) for o in done)
    figures = m.basics() | {"right": right, "closed": closed}
    shown = bool(done) and right == len(done) == len(m.outcomes) and closed == len(done)
    if shown:
        size = len(m.exchange[1])
        return Verdict(
            True,
            f"{right} of {len(m.outcomes)} connections answered with the same {size} bytes, each "
            "closed by the server after its one answer: accept, read, answer, close",
            figures,
        )
    return Verdict(
        False,
        f"{right} of {len(m.outcomes)} connections answered right, {closed} closed by the server",
        figures,
    )


def one_at_a_time(m: Measured) -> Verdict:
    """iterative: the burst is answered one after another; the server's own count says 1."""
    most = m.reports.most_in_progress
    figures = m.basics() | {"overlap": m.overlap, "most_in_progress": most or 0}
    view, n = m.load.view_s * 1000, len(m.outcomes)
    counted = f"; the server's own count: at most {most} in progress" if most else ""
    if m.answered and m.overlap <= 1.25 and most in (None, 1):
        return Verdict(
            True,
            f"{n} clients asked at once for a {view:.0f} ms view: answered one after another in "
            f"{seconds(m.span_s)} ({m.overlap:.1f} at a time); the last waited "
            f"{seconds(figures['last_wait_s'])}{counted}",
            figures,
        )
    return Verdict(
        False,
        f"{n} clients at once on a {view:.0f} ms view: {m.overlap:.1f} views at once, answered "
        f"in {seconds(m.span_s)}: they overlapped{counted}",
        figures,
    )


def head_of_line(m: Measured) -> Verdict:
    """sleep: the last client of a burst waits for every sleep before its turn."""
    figures = m.basics()
    n, pause, last = len(m.outcomes), m.load.pause_s, figures["last_wait_s"]
    held = (n - 1) * pause
    figures["held_s"] = held
    if m.answered and last >= 0.8 * held:
        return Verdict(
            True,
            f"{n} clients asked at once for an answer that takes a millisecond: the last waited "
            f"{seconds(last)}, behind {n - 1} sleeps of {pause:g} s: one slow request holds "
            "every client behind it",
            figures,
        )
    return Verdict(
        False,
        f"the last of {n} clients waited {seconds(last)} (the sleeps before it: {seconds(held)}): "
        "nobody was held behind a sleep",
        figures,
    )


def overlapping(m: Measured) -> Verdict:
    """threaded: the burst's blocking views run at once, a thread each."""
    threads = m.peak("threads")
    figures = m.basics() | {"overlap": m.overlap, "threads": threads}
    n, view = len(m.outcomes), m.load.view_s * 1000
    if m.answered and m.overlap >= min(3.0, n / 2):
        return Verdict(
            True,
            f"{n} clients at once on a {view:.0f} ms blocking view: all answered in "
            f"{seconds(m.span_s)}, {m.overlap:.1f} views at once, on {threads} threads",
            figures,
        )
    return Verdict(
        False,
        f"{n} clients at once on a {view:.0f} ms view: {m.overlap:.1f} at a time, answered in "
        f"{seconds(m.span_s)}: one after another",
        figures,
    )


def one_loop(m: Measured) -> Verdict:
    """asyncio: views that await overlap on the one thread of the event loop."""
    threads = m.peak("threads")
    figures = m.basics() | {"overlap": m.overlap, "threads": threads}
    n, view = len(m.outcomes), m.load.view_s * 1000
    many = m.answered and m.overlap >= min(3.0, n / 2)
    if many and threads <= 2:
        return Verdict(
            True,
            f"{n} clients at once on a {view:.0f} ms view that awaits: all answered in "
            f"{seconds(m.span_s)}, {m.overlap:.1f} at once, on {threads} thread(s): while one "
            "view waits, the loop serves the others",
            figures,
        )
    why = f"on {threads} threads, not one loop" if many else "one after another"
    return Verdict(False, f"{m.overlap:.1f} views at once, {why}", figures)


def workers(m: Measured) -> Verdict:
    """prefork: as many blocking views at once as workers, no more; no zombie."""
    zombies = m.last("zombies")
    figures = m.basics() | {"overlap": m.overlap, "workers": m.workers, "zombies": zombies}
    said = (
        f"{m.load.clients} clients asking again and again for a {m.load.view_s * 1000:.0f} ms "
        f"view that blocks its worker: {len(m.answered)} answered in {seconds(m.span_s)}, "
        f"{m.overlap:.1f} at once with {m.workers} worker(s), {zombies} zombies"
    )
    if m.answered and 1.5 <= m.overlap <= m.workers * 1.25 and zombies == 0:
        return Verdict(True, said + ": one view per worker, and the supervisor reaps", figures)
    return Verdict(False, said, figures)


def zombies(m: Measured) -> Verdict:
    """fork: every child served becomes a zombie, and stays one."""
    left, forked = m.last("zombies"), len(m.answered)
    figures = m.basics() | {"zombies": left, "peak_zombies": m.peak("zombies")}
    if forked and left >= 0.9 * forked:
        return Verdict(
            True,
            f"zombies rose to {left} and stayed: {forked} children forked and answered, none "
            "waited for (nobody calls wait())",
            figures,
        )
    return Verdict(
        False, f"{left} zombies left of {forked} children forked: something reaped them", figures
    )


def emfile(m: Measured) -> Verdict:
    """fork_leak: the parent's descriptors climb to the limit, then accept() fails."""
    peak, start = m.peak("parent_fds"), (m.samples[0].parent_fds if m.samples else 0)
    open_ = sum(o.closed is False for o in m.answered)
    figures = m.basics() | {
        "emfile": m.emfile,
        "peak_fds": peak,
        "first_fds": start,
        "nofile": m.nofile,
        "left_open": open_,
    }
    if m.emfile and peak >= m.nofile - 2:
        return Verdict(
            True,
            f"descriptors rose from {start} to {peak} of {m.nofile} and accept() failed "
            f"{m.emfile} times with EMFILE: the parent keeps every client socket ({open_} of "
            f"{len(m.answered)} answered connections never closed)",
            figures,
        )
    return Verdict(
        False,
        f"descriptors peaked at {peak} of {m.nofile}, {m.emfile} EMFILE: the parent closes its "
        "copy of each client socket",
        figures,
    )


def coalesced(m: Measured) -> Verdict:
    """fork_wait: some children reaped, one per signal; the rest left as zombies."""
    left, forked = m.last("zombies"), len(m.answered)
    figures = m.basics() | {"zombies": left, "reaped": forked - left}
    if 0 < left < forked:
        return Verdict(
            True,
            f"zombies rose to {left} and stayed: of {forked} children, {forked - left} were "
            f"reaped by one wait() per SIGCHLD and {left} were lost when their signals arrived "
            "together",
            figures,
        )
    what = "every child was reaped" if not left else "none was reaped"
    return Verdict(False, f"{left} zombies left of {forked} children: {what}", figures)


def reaped(m: Measured) -> Verdict:
    """fork_reap: zombies stay at 0 while children come and go."""
    left, forked, peak = m.last("zombies"), len(m.answered), m.peak("zombies")
    figures = m.basics() | {"zombies": left, "peak_zombies": peak}
    if forked and left == 0:
        return Verdict(
            True,
            f"zombies stayed at 0 (at most {peak} for an instant) while {forked} children came "
            "and went: the waitpid(WNOHANG) loop reaps every one",
            figures,
        )
    return Verdict(False, f"zombies rose to {left} and stayed, of {forked} children", figures)
