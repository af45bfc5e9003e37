"""The answer a run gives: per workload, which models win, by how much, which the load generator
could not measure (and what the server's CPU per request and wrk say of them), and why.

A pure function of run.json, shared by the report's first section and the table printed at the
end of a run. Every figure and sentence comes from the run's cells; "by how much" is a ratio of
medians with its test (bench/stats.py), and the "why" of each model is its lesson as this run
judged it (bench/report/lessons.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.record import RunRecord
from bench.report.lessons import Lesson, by_model, judge
from bench.stats import (
    NOISY_CV,
    Drift,
    Estimate,
    Ranked,
    Summary,
    cpu_us,
    drift,
    placed,
    ranking,
    summarise,
)

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class Entry:
    """One server at one level of the answer."""

    summary: Summary
    place: int | None  # None: not ranked (generator-bound)
    times_winner: float | None  # the winner's median over this one's (1.0 for the winner)
    versus: str  # what its test says, against its leader or the leader above it
    open_demand: Estimate | None  # server CPU µs per request at the open loop's rate
    lesson: Lesson | None
    cpus: str = ""  # " (2 CPUs)" where the run's servers did not all have as many
    open_error: float = 0.0  # the counter's error of open_demand, per request
    cost: Ranked | None = None  # generator-bound: its tier by server CPU per request

    @property
    def server(self) -> str:
        return self.summary.server

    @property
    def label(self) -> str:
        return self.summary.server + self.cpus

    @property
    def place_label(self) -> str:
        """Its place: "3", "c2" (generator-bound: its tier by CPU per request), or "" (none)."""
        if self.place:
            return str(self.place)
        return f"c{self.cost.place}" if self.cost else ""

    @property
    def tier(self) -> Ranked:
        """Its tier by server CPU per request: for the generator-bound entries that have one."""
        assert self.cost is not None, f"{self.server} has no tier by CPU per request"
        return self.cost


@dataclass
class Level:
    workload: str
    users: int
    mode: str
    entries: list[Entry] = field(default_factory=list)
    open_rate: float = 0.0  # the rate of the open-loop cells whose demand is shown

    @property
    def ranked(self) -> list[Entry]:
        return [e for e in self.entries if e.place is not None]

    @property
    def unranked(self) -> list[Entry]:
        return [e for e in self.entries if e.place is None]

    @property
    def title(self) -> str:
        mode = "" if self.mode == "keepalive" else ", a new connection per request"
        return f"{self.workload}, {self.users} users{mode}"

    def cost_sentences(self) -> list[str]:
        """The generator-bound servers ranked among themselves by their CPU per request, in
        tiers by the same exact test and correction as throughput (lower first)."""
        tiered = [e for e in self.unranked if e.cost is not None]
        coarse = [e for e in tiered if e.summary.demand_error >= COARSE * e.summary.demand.median]
        if coarse:  # a counter coarser than the differences it would rank: figures only
            return [
                "Their server CPU per request, counted too coarsely to rank them by it (± "
                f"{max(e.summary.demand_error for e in coarse):,.0f} µs a request at worst): "
                + ", ".join(
                    f"{e.server} {cpu_us(e.summary.demand.median, e.summary.demand_error)} µs"
                    for e in tiered
                )
                + "."
            ]
        if not tiered:
            return []
        if len(tiered) == 1:
            (only,) = tiered
            return [
                f"Its server CPU per request, which the generator cannot distort: {only.server} "
                f"{cpu_us(only.summary.demand.median, only.summary.demand_error)} µs."
            ]
        groups: dict[int, list[Entry]] = {}
        for e in tiered:
            groups.setdefault(e.tier.place, []).append(e)

        def figure(e: Entry) -> str:
            return f"{e.server} {cpu_us(e.summary.demand.median, e.summary.demand_error)} µs"

        tiers_said = "; ".join(
            f"{place}. "
            + (
                figure(members[0])
                if len(members) == 1
                else " and ".join(figure(e) for e in members)
                + f" (none told apart from {members[0].server})"
            )
            for place, members in groups.items()
        )
        said = [
            "Ranked among themselves by the server's CPU per request, which the generator "
            f"cannot distort (least first; the exact test, Holm over "
            f"{tiered[0].tier.comparisons}): "
            + tiers_said
            + ". 1 / CPU per request is a capacity only while one request's cost does not grow "
            "with the load"
            + (
                f"; the CPUs of {', '.join(e.server for e in idle)} were not saturated in any "
                "run, so their cost is at a lighter load than the others'."
                if (idle := [e for e in tiered if not e.summary.ran_out & {"server", "both"}])
                else "."
            )
        ]
        opened = [(e, e.open_demand) for e in tiered if e.open_demand and e.open_demand.n]
        if opened:
            said.append(
                f"At {self.open_rate:g} requests/s offered to all, far from saturation: "
                + ", ".join(
                    f"{e.server} {cpu_us(demand.median, e.open_error)} µs" for e, demand in opened
                )
                + "."
            )
        return said

    def sentences(self) -> list[str]:
        """The answer at this level, in words built from its figures."""
        said = self.bound_sentences() + self.ranked_sentences()
        noisy = [e for e in self.entries if e.summary.noisy and e.summary.n >= 3]
        if noisy:
            said.append(
                f"Noisy (their runs' throughput varies by more than {NOISY_CV:.0%} of its mean): "
                + ", ".join(f"{e.server} ({e.summary.cv:.0%})" for e in noisy)
                + "; their places come from the test over all their runs, not from their "
                "medians alone."
            )
        return said + anatomy(self.entries)

    def bound_sentences(self) -> list[str]:
        """What is said of the servers locust could not measure: bounds, their CPU per request,
        wrk's figures."""
        ranked, unranked = self.ranked, self.unranked
        if not unranked:
            return []
        floor = min(e.summary.throughput.low for e in unranked)
        beyond = ranked and floor > ranked[0].summary.throughput.high
        contended = [e.server for e in unranked if "contended" in e.summary.bound_causes]
        both = [e.server for e in unranked if e.summary.ran_out & {"both", "server"}]
        said = [
            "locust could not measure "
            + ", ".join(e.server for e in unranked)
            + (
                ": its own CPU ran out"
                if not contended
                else f": its own CPU ran out, or (for {', '.join(contended)}) "
                "other work took its CPUs"
            )
            + (
                f" (and the server's CPUs had no time left either, for {', '.join(both)}, "
                "in some runs)"
                if both
                else ""
            )
            + ", so each is at least as fast as the generator's figure ("
            + ", ".join(f"{e.summary.throughput.median:,.0f}" for e in unranked)
            + " requests/s)"
            + (
                f", more than any server locust could measure ({floor:,.0f} at the least)."
                if beyond
                else "."
            )
        ]
        said += self.cost_sentences()
        measured = [e for e in unranked if e.summary.wrk.n]
        if measured:
            said.append(
                "wrk on the same cells: "
                + ", ".join(f"{e.server} {e.summary.wrk.median:,.0f}" for e in measured)
                + " requests/s"
                + disagreement(unranked)
                + "."
            )
        else:
            said.append("wrk did not measure them (it was not installed, or not asked).")
        return said

    def ranked_sentences(self) -> list[str]:
        """Who leads among the servers locust could measure, and by how much the others trail."""
        ranked = self.ranked
        if not ranked:
            return []
        winners = [e for e in ranked if e.place == 1]
        lead = winners[0].summary.throughput
        among = "Of the servers locust could measure, " if self.unranked else ""
        if len(winners) == 1:
            said = [
                f"{among}{winners[0].server} leads with {lead.median:,.0f} requests/s "
                f"({interval(lead)})."
            ]
        else:
            medians = [e.summary.throughput.median for e in winners]
            said = [
                f"{among}{' and '.join(e.server for e in winners)} lead with "
                f"{min(medians):,.0f} to {max(medians):,.0f} requests/s (their medians): "
                f"none of them is told apart from {winners[0].server}."
            ]
        others = [e for e in ranked if e.place != 1]
        if others:
            said.append(
                "Then "
                + "; ".join(
                    f"{e.server} {e.summary.throughput.median:,.0f} "
                    f"({times(e.times_winner)} slower)"
                    for e in others
                )
                + "."
            )
        return said


def anatomy(entries: list[Entry], apart: float = 10.0) -> list[str]:
    """Where page faults tell servers apart (one takes `apart` times the fewest or more), the
    sentence that says so, with those servers' user and system CPU per request."""
    counted = [e for e in entries if e.summary.faults.n]
    if len(counted) < 2:
        return []
    fewest = min(counted, key=lambda e: e.summary.faults.median)
    floor = max(fewest.summary.faults.median, 0.1)
    many = [e for e in counted if e.summary.faults.median >= apart * floor]
    if not many:
        return []

    def split(e: Entry) -> str:
        user, system = e.summary.user, e.summary.system
        if not (user.n and system.n):
            return ""
        return (
            f", user {cpu_us(user.median, e.summary.split_error)} µs and system "
            f"{cpu_us(system.median, e.summary.split_error)} µs"
        )

    return [
        "Page faults a request: "
        + "; ".join(f"{e.server} {e.summary.faults.median:,.0f}{split(e)}" for e in many)
        + f", against {fewest.summary.faults.median:,.1f} for {fewest.server}{split(fewest)}."
    ]


COARSE = 0.05  # a CPU figure whose counter's error is this share of it or more is not ranked


def disagreement(entries: list[Entry]) -> str:
    """Where wrk orders two servers otherwise than their CPU per request's tiers do: said."""
    tiered = [e for e in entries if e.cost is not None and e.summary.wrk.n]
    crossed = [
        (a.server, b.server)
        for a in tiered
        for b in tiered
        if a.tier.place < b.tier.place and a.summary.wrk.median < b.summary.wrk.median
    ]
    if not crossed:
        return "; its order agrees with the CPU per request's" if len(tiered) > 1 else ""
    return (
        "; its order differs from the CPU per request's for "
        + ", ".join(f"{b} over {a}" for a, b in crossed[:4])
        + (f" and {len(crossed) - 4} more pairs" if len(crossed) > 4 else "")
    )


def times(ratio: float | None) -> str:
    """'1.02x' near parity (where one decimal would say 1.0x), '5.2x' beyond."""
    if ratio is None:
        return ""
    return f"{ratio:.2f}x" if ratio < 1.1 else f"{ratio:,.1f}x"


def interval(estimate: Estimate) -> str:
    """'range of 5 runs 1,390 to 1,450', '95 % interval of 6 runs ...', 'one run'."""
    if estimate.n < 2:
        return "one run"
    return f"{estimate.label} {estimate.low:,.0f} to {estimate.high:,.0f}"


def _versus_cost(ranked: Ranked | None, first: bool) -> str:
    """A generator-bound server's test, by its CPU per request against its tier's leader."""
    if ranked is None or not ranked.comparisons:
        return "generator-bound: not ranked"
    if first:
        return "generator-bound: least CPU"
    if ranked.differs is None:
        return f"generator-bound: not testable against {ranked.against}"
    if ranked.differs:
        return (
            f"generator-bound: costlier than {ranked.against} (p = {ranked.p:.4f}, at most "
            f"{ranked.level:.4f}: Holm over {ranked.comparisons})"
        )
    return f"generator-bound: CPU not told apart from {ranked.against} (p = {ranked.p:.2f})"


def _versus(ranked: Ranked, first: bool) -> str:
    """What its test says: the first leads; a server in a tier is not told apart from its
    leader; a server that opens a tier is slower than the leader above it, at the level the
    correction over the table's tests gave it."""
    if first:
        return ""
    if ranked.differs is None:
        return f"not testable against {ranked.against} with so few runs"
    if ranked.differs:
        return (
            f"slower than {ranked.against} (p = {ranked.p:.4f}, at most "
            f"{ranked.level:.4f}: Holm over {ranked.comparisons})"
        )
    return f"not told apart from {ranked.against} (p = {ranked.p:.2f})"


def answer(run: RunRecord) -> tuple[list[Level], Drift | None]:
    """The levels that rank servers (closed loop, repeated: two runs or more of some server),
    each with the servers repeated there; and whether throughput drifted with the round."""
    summaries = summarise(run.cells)
    lessons = by_model(judge(run))
    order = list(dict.fromkeys(c.workload for c in run.cells))
    repeated = {(s.workload, s.users, s.mode) for s in summaries if s.n >= 2 and not s.rate}
    given = {c.server: len(c.server_cpus or ()) for c in run.cells}
    uneven = len(set(given.values()) - {0}) > 1

    def cpus(server: str) -> str:
        return f" ({given[server]} CPUs)" if uneven and given.get(server, 0) > 1 else ""

    levels = []
    for workload, users, mode in sorted(repeated, key=lambda k: (order.index(k[0]), k[1], k[2])):
        mine = [  # the servers measured once here are measurements, not rankings
            s
            for s in summaries
            if (s.workload, s.users, s.mode) == (workload, users, mode) and not s.rate and s.n >= 2
        ]
        opened = {  # the open loop's cost at one offered rate, in the same connection mode
            s.server: s for s in summaries if s.rate and s.workload == workload and s.mode == mode
        }
        open_rate = next((s.rate for s in opened.values()), 0.0)
        places, unranked = ranking(mine)
        best = places[0].summary.throughput.median if places else 0.0
        level = Level(workload, users, mode, open_rate=open_rate)
        for ranked in places:
            median = ranked.summary.throughput.median
            server = ranked.summary.server
            level.entries.append(
                Entry(
                    ranked.summary,
                    ranked.place,
                    best / median if median else None,
                    _versus(ranked, ranked is places[0]),
                    opened[server].demand if server in opened else None,
                    lessons.get(server),
                    cpus(server),
                    opened[server].demand_error if server in opened else 0.0,
                )
            )
        costly = sorted((s for s in unranked if s.demand.n >= 2), key=lambda s: s.demand.median)
        cost_tiers = {
            r.summary.server: r for r in placed(costly, [s.demand.values for s in costly])
        }
        bound = []
        for summary in sorted(unranked, key=lambda s: s.demand.median if s.demand.n else 1e12):
            cost = cost_tiers.get(summary.server)
            bound.append(
                Entry(
                    summary,
                    None,
                    None,
                    _versus_cost(cost, cost is None or cost.summary is costly[0]),
                    opened[summary.server].demand if summary.server in opened else None,
                    lessons.get(summary.server),
                    cpus(summary.server),
                    opened[summary.server].demand_error if summary.server in opened else 0.0,
                    cost,
                )
            )
        # listed by what each could be: where locust could not keep up with any of them beyond
        # every server it could measure, they come first
        floor = min((e.summary.throughput.low for e in bound), default=0.0)
        top = places[0].summary.throughput.high if places else 0.0
        level.entries = bound + level.entries if floor > top else level.entries + bound
        levels.append(level)
    return levels, drift(summaries)


def drift_sentence(found: Drift | None) -> str:
    """Whether throughput moved with the round, in one sentence."""
    if found is None:
        return "No group was repeated often enough (5 runs) to test for drift."
    flat = len(found.groups) - found.rising - found.falling
    verdict = (
        "a drift the rounds share (the sign test says so at p <= 0.05)"
        if found.p <= 0.05
        else "no drift beyond chance"
    )
    per_workload = "; ".join(
        f"{workload} {total:+.1f} (p = {p:.3f}{', a drift' if p <= 0.05 else ''})"
        for workload, (total, p) in found.workloads.items()
    )
    return (
        f"Throughput against the round it was measured in (Spearman): {found.rising} of "
        f"{len(found.groups)} repeated groups rose, {found.falling} fell"
        + (f", {flat} {'was' if flat == 1 else 'were'} flat" if flat else "")
        + f"; sign test p = {found.p:.3f}: {verdict}."
        + (
            f" Weighing how far each moved, the sum of their rho per workload against its "
            f"permutations: {per_workload}."
            if per_workload
            else ""
        )
        + " Every p-value here tells runs of this session apart, not machines or days: "
        "`python -m bench compare` compares two runs."
    )


def print_answer(run: RunRecord, console: Console) -> None:
    """The answer as tables on the terminal (rich), one per level, and the drift."""
    from rich import box
    from rich.table import Table

    levels, found = answer(run)
    say = console.print
    if not levels:
        say("This run repeated no cell: it ranks nothing (its figures are in the report).")
        return
    for level in levels:
        wrk = any(e.summary.wrk.n for e in level.entries)
        runs = sorted({e.summary.n for e in level.entries})
        table = Table(
            title=f"The answer: {level.title}, {'/'.join(map(str, runs))} runs each "
            "(median, range)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            padding=(0, 1, 0, 0),
        )
        headers = ["#", "server", "req/s", "range", "x", "µs CPU"]
        headers += ["wrk"] * wrk + ["vs leader"]
        for header in headers:
            table.add_column(header, justify="left" if header == "server" else "right")
        for entry in level.entries:
            s = entry.summary
            spread = s.throughput
            row = [
                entry.place_label or "-",
                entry.label,
                f"{spread.median:,.0f}",
                f"{spread.low:,.0f}-{spread.high:,.0f}" if spread.n > 1 else "",
                times(entry.times_winner).rstrip("x"),
                cpu_us(s.demand.median, s.demand_error).replace(" ", "") if s.demand.n else "",
            ]
            row += [f"{s.wrk.median:,.0f}" if s.wrk.n else ""] * wrk
            table.add_row(*row, short(entry.versus))
        say(table)
        for sentence in level.sentences():
            say(f"  {sentence}", highlight=False)
    say(drift_sentence(found), highlight=False)


def short(versus: str) -> str:
    """The comparison with the next server, in a few characters for the terminal."""
    if versus.startswith("slower than"):
        return "slower p=" + versus.split("p = ")[1].split(",")[0]
    if versus.startswith("not told apart"):
        return "tied p=" + versus.split("p = ")[1].rstrip(")")
    if versus.startswith("not testable"):
        return "untestable"
    if versus.startswith("generator-bound: costlier"):
        return "CPU+ p=" + versus.split("p = ")[1].split(",")[0]
    if versus.startswith("generator-bound: CPU not told apart"):
        return "CPU= p=" + versus.split("p = ")[1].rstrip(")")
    if versus.startswith("generator-bound: least CPU"):
        return "least CPU"
    return "gen.-bound" if versus.startswith("generator-bound") else versus
