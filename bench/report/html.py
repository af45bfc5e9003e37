"""Report: the charts and report.html of a run, drawn from its run.json and nothing else
(`python -m bench report [FOLDER]`).

The page opens with the answer (bench/report/answer.py), then the lessons as this run judged them
(bench/report/lessons.py), then the measurements behind them. Every sentence is built from the run's
figures; none is fixed text about what a server did. The page is self-contained (the images
are embedded), so it opens from disk with no network.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shlex
from pathlib import Path

import matplotlib.pyplot as plt

from bench.catalog import SERVERS, TARGET
from bench.checks import run_checks
from bench.record import CellRecord, RunRecord, to_json
from bench.report.answer import Level, answer, drift_sentence, interval, times
from bench.report.charts import (
    BEYOND,
    all_charts,
    has_percentile,
    micro_chart,
    micro_rows,
    open_loop_rows,
)
from bench.report.conformance import TITLE as CONFORMANCE_TITLE
from bench.report.conformance import html_section as conformance_section
from bench.report.exports import write_exports
from bench.report.lessons import judge
from bench.report.select import ok_cells, servers_in
from bench.report.summary import SUMMARY, summary
from bench.stats import Summary, cpu_us, summarise
from bench.store import load_run

esc = html.escape

CAPTIONS = {
    "throughput": "Throughput per server at each workload's highest concurrency: the median "
    "over its runs (a dot) and their range (a line); hollow where locust's own CPU set the figure "
    "(the server is at least that fast), a cross where wrk measured the same cell.",
    "concurrency": "Throughput against concurrent users (medians over runs).",
    "latency": "p50 (filled) and p99 (hollow) per server: medians over its runs with their "
    f"range; a p99 only where every run had {int(BEYOND / 0.01):,} answers or more.",
    "process-tree": "The parent's open descriptors, the tree's zombies and its live children "
    "over time, in each server's most loaded cell; pale: warm-up, grey: the measured window, "
    "after it the wait until the server is at rest. Lines that stay up once it is at rest are "
    "leaks.",
    "efficiency": "The server's CPU per request over the window (its service demand, from its "
    "cgroup), its CPU core's busy time per request (dashed), and the tree's peak memory per "
    "user, each page counted once.",
    "errors": "Failed requests by kind, and cells that failed outright.",
    "open-loop": "Open loop: p90 over every request due, counted from its due time less the "
    "generator's own lateness (filled; a "
    "triangle when it lies among the requests never answered in time), the same requests timed "
    "from their actual send (square), and the closed loop's p90 (diamond). The gap between the "
    "first two is what a closed loop hides.",
    "capacity": "Capacity sweep: p99 (and p50) latency against the offered rate, open loop.",
    "scale": "C10K: server RSS against idle connections held, per model.",
    "slowclients": "Slow clients: normal users' throughput without and with clients that send "
    "their headers a byte at a time.",
    "micro": "One request's round trip per model (keep-alive, and a new connection each), and "
    "the protocol core in-process against the stdlib's http.server with wsgiref: medians and "
    "interquartile ranges.",
}
SCENARIO_CHARTS = {
    "capacity": "capacity/capacity.png",
    "scale": "scenarios/scale.png",
    "slowclients": "scenarios/slowclients.png",
}


def draw(folder: Path, svg: bool = False, hgrm: bool = False) -> Path:
    """Write every chart (PNG, and SVG when asked), cells.csv and ranking.csv (and a .hgrm per
    cell when asked) and report.html into `folder`; return the report's path. RunFormatError
    when run.json is not a run of this format."""
    run = load_run(folder)
    write_exports(run, folder, hgrm)
    micro_path = folder / "micro.json"
    micro = json.loads(micro_path.read_text()) if micro_path.is_file() else None
    conformance_path = folder / "conformance.json"  # python -m bench conformance --out FOLDER
    conformance = json.loads(conformance_path.read_text()) if conformance_path.is_file() else None
    charts = all_charts(run)
    if micro:
        charts["micro"] = micro_chart(micro)
    images = {}
    for name, figure in charts.items():
        if svg:
            figure.savefig(folder / f"{name}.svg", bbox_inches="tight")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110)  # constrained layout: no "tight" pass
        plt.close(figure)
        (folder / f"{name}.png").write_bytes(buffer.getvalue())
        images[name] = base64.b64encode(buffer.getvalue()).decode("ascii")
    for name, stored in SCENARIO_CHARTS.items():  # drawn by their own steps, from their JSON
        if (folder / stored).is_file():
            images[name] = base64.b64encode((folder / stored).read_bytes()).decode("ascii")
    path = folder / "report.html"
    path.write_text(page(run, images, micro, conformance))
    (folder / SUMMARY).write_text(summary(run, folder))
    return path


# formatting ---------------------------------------------------------------------------------


def number(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def ms(value_us: float | None, limit_us: float = 0.0) -> str:
    """Milliseconds; None is a request never answered in time: 'more than the limit'."""
    if value_us is None:
        return f"&gt; {limit_us / 1e6:g} s" if limit_us else ""
    return f"{value_us / 1000:,.2f}"


def held_ms(value_us: float | None, percentile: float, answers: int, limit_us: float = 0.0) -> str:
    """The percentile's value in ms, or a dash where the answers are too few to hold it."""
    if not has_percentile(answers, percentile):
        return f"<span title='fewer than {BEYOND} answers past it'>&ndash;</span>"
    return ms(value_us, limit_us)


HIDDEN = 1.25  # a core this much busier than the server's processes account for: said
NUMERIC = re.compile(r"^(&gt; |≤ )?[\d,.]+( ± [\d,.]+)?( s|x|%)?$|^&ndash;$|^<span title=")


def table(
    header: list[str], rows: list[list[str]], css: str = "", row_css: list[str] | None = None
) -> str:
    """An HTML table: words to the left, figures to the right."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        f"<tr class='{row_class}'>"
        + "".join(f"<td class='{'n' if NUMERIC.match(c) else ''}'>{c}</td>" for c in row)
        + "</tr>"
        for row, row_class in zip(rows, row_css or [""] * len(rows), strict=True)
    )
    return f"<table class='{css}'><tr>{head}</tr>{body}</table>"


# the answer ---------------------------------------------------------------------------------


def not_ours(run: RunRecord) -> dict[str, str]:
    """What the answer's last column says of a row without a lesson: a reference row (the
    catalog's description), a server the user added (its command), a server elsewhere."""
    settings = run.settings
    said = {
        name: f"a reference row: {spec.description}"
        for name, spec in SERVERS.items()
        if spec.kind == "peer"
    }
    for added in settings.added_servers:
        said[added["name"]] = f"added for this run: {shlex.join(added['command'])}"
    if settings.target:
        said[TARGET] = f"a server at {settings.target}, not watched"
    return said


def unaccounted(cell: CellRecord) -> str:
    """Where the server's CPUs were busier than its accounting charged it, beyond both
    figures' errors: the measured gap, and what that accounting can and cannot see."""
    demand = cell.service_demand
    if demand is None:
        return ""
    core, own = demand.core_us_per_request, demand.us_per_request
    if not core or not own or core <= HIDDEN * own:
        return ""
    core_error = demand.core_error_us_per_request
    if core - own <= (core_error or 0) + (demand.error_us_per_request or 0):
        return ""
    seen = (
        "its cgroup, which holds every process it started"
        if cell.accounting and cell.accounting.group
        else "the processes /proc showed in its tree"
    )
    interrupts = demand.core_interrupt_us_per_request or 0.0
    return (
        f"its CPU was busy {cpu_us(core, core_error)} µs a request, "
        f"{cpu_us(own, demand.error_us_per_request)} of them charged to {seen}: "
        f"{core - own:,.0f} µs a request of other work on its CPU"
        + (
            f", {interrupts:,.0f} of it in interrupts (the kernel's network processing, "
            "charged to no process)"
            if interrupts >= (core_error or 0.0)
            else ""
        )
    )


def cost_line(s: Summary) -> str:
    """The anatomy of a request's cost (median of the runs): user and system CPU, page faults."""
    parts = []
    if s.user.n and s.system.n:
        parts.append(
            f"user {cpu_us(s.user.median, s.split_error)} µs, system "
            f"{cpu_us(s.system.median, s.split_error)} µs"
        )
    if s.faults.n:
        faults = s.faults.median
        parts.append(f"{faults:,.{0 if faults >= 10 else 1}f} page faults")
    return f"<br><small>a request: {esc(', '.join(parts))}</small>" if parts else ""


def answer_section(levels: list[Level], drift_text: str, others: dict[str, str]) -> str:
    if not levels:
        return (
            "<p>This run repeated no cell, so it ranks nothing: its figures are measurements, "
            "below. Run with --repeat 5 (the default profile does) for a ranking.</p>"
        )
    parts = []
    for level in levels:
        rows = []
        for entry in level.entries:
            s = entry.summary
            lesson = entry.lesson
            why = (
                f"{esc(lesson.lesson)} <small>({esc(lesson.verdict)})</small>"
                if lesson
                else f"<small>{esc(others.get(s.server, ''))}</small>"
            ) + cost_line(s)
            rows.append(
                [
                    entry.place_label or "&ndash;",
                    f"<b>{esc(entry.label)}</b>",
                    number(s.throughput.median),
                    esc(interval(s.throughput)),
                    times(entry.times_winner),
                    esc(entry.versus),
                    cpu_us(s.demand.median, s.demand_error) if s.demand.n else "",
                    cpu_us(entry.open_demand.median, entry.open_error)
                    if entry.open_demand and entry.open_demand.n
                    else "",
                    number(s.wrk.median) if s.wrk.n else "",
                    why,
                ]
            )
        open_column = f"at {level.open_rate:g} req/s" if level.open_rate else "open loop"
        parts.append(
            f"<h3>{esc(level.title)}</h3><p class='answer'>"
            + " ".join(esc(sentence) for sentence in level.sentences())
            + "</p>"
            + table(
                [
                    "place (c: by CPU per request)",
                    "server",
                    "req/s (median)",
                    "spread",
                    "winner is",
                    "its test (against its tier's leader, or the one above)",
                    "server CPU µs/req",
                    f"… {open_column}",
                    "wrk req/s",
                    "why (its lesson, as this run judged it)",
                ],
                rows,
                "answer",
            )
        )
    parts.append(f"<p>{esc(drift_text)}</p>")
    return "".join(parts)


def lessons_section(run: RunRecord) -> str:
    rows = [
        [
            esc(lesson.program),
            esc(lesson.model),
            esc(lesson.lesson),
            esc(lesson.evidence),
            f"<span class='{'shown' if lesson.shown else 'missing'}'>{esc(lesson.verdict)}</span>",
        ]
        for lesson in judge(run)
    ]
    return table(["seed program", "model", "lesson", "this run's evidence", "verdict"], rows)


def once_section(run: RunRecord) -> str:
    """The closed-loop levels measured once: measurements, not rankings."""
    single = [s for s in summarise(run.cells) if not s.rate and s.n == 1]
    if not single:
        return "<p>Every closed-loop cell of this run was repeated.</p>"
    answers: dict[tuple, CellRecord] = {
        (c.server, c.workload, c.users, c.mode): c for c in ok_cells(run)
    }
    rows = []
    for s in sorted(single, key=lambda s: (s.workload, s.users, -s.throughput.median)):
        cell = answers[(s.server, s.workload, s.users, s.mode)]
        assert cell.load is not None  # an ok cell
        latency, requests = cell.load.latency_us, cell.load.requests
        notes = []
        if cell.generator_bound:
            notes.append(f"generator-bound: {cell.generator_bound_reason}")
        leak = cell.leak
        if leak and leak.verdict == "leaks":
            notes.append(f"leaks: +{leak.fds_left} fds, +{leak.zombies_left} zombies")
        demand = cell.service_demand
        core = demand.core_us_per_request if demand else None
        gap = unaccounted(cell)
        if gap:
            notes.append(gap)
        rows.append(
            [
                esc(f"{s.workload}, {s.users} users, {s.mode}"),
                esc(s.server),
                number(s.throughput.median),
                held_ms(latency.p50, 50, requests),
                held_ms(latency.p90, 90, requests),
                held_ms(latency.p99, 99, requests),
                cpu_us(s.demand.median, s.demand_error) if s.demand.n else "",
                cpu_us(core, demand.core_error_us_per_request) if core and demand else "",
                esc("; ".join(notes)),
            ]
        )
    header = ["cell", "server", "req/s", "p50 ms", "p90 ms", "p99 ms", "server CPU µs/req"]
    return table([*header, "its core busy µs/req", "notes"], rows)


def open_loop_section(run: RunRecord) -> str:
    rows = open_loop_rows(run)
    if not rows:
        return "<p>No open-loop cell in this run (--open-rate).</p>"
    body = []
    for r in rows:
        corrected = [held_ms(r["corrected"][p], p, r["due"], r["limit_us"]) for p in (50, 90, 99)]
        body.append(
            [
                esc(r["server"]),
                esc(r["workload"]),
                f"{r['rate']:,.0f}",
                number(r["throughput"]),
                f"{r['due']:,} / {r['answered']:,} / {r['censored']:,}",
                *corrected,
                held_ms(r["uncorrected"][90], 90, r["answered"]),
                held_ms(r["closed"][90], 90, r["closed_answers"]),
                f"{ms(r['send_lag_p50'])} / {ms(r['send_lag_p99'])}",
                str(r["failed"] - r["behind"]),
                esc(lag_note(r)),
            ]
        )
    return table(
        [
            "server",
            "workload",
            "offered req/s",
            "answered req/s",
            "due / answered / never answered in time",
            "p50 ms (corrected)",
            "p90 ms (corrected)",
            "p99 ms (corrected)",
            "p90 ms (uncorrected)",
            "closed-loop p90 ms",
            "the generator's own lag p50 / p99 ms (taken out)",
            "other errors",
            "notes",
        ],
        body,
    )


def lag_note(row: dict) -> str:
    """Where the generator's own lateness is not small beside the latency left: said, since
    the figure then leans on how well that lateness was measured."""
    lag, latency = row.get("send_lag_p50"), row["corrected"].get(50)
    if lag is None or latency is None or lag < 0.5 * latency:
        return ""
    return (
        f"the generator's own lag (p50 {lag / 1000:,.2f} ms) is not small beside the latency "
        f"left (p50 {latency / 1000:,.2f} ms)"
    )


def wrk_section(run: RunRecord) -> str:
    rows = []
    for cell in run.cells:
        wrk, load = cell.wrk, cell.load
        if not wrk or not load or wrk.error or not wrk.throughput:
            continue
        rows.append(
            [
                esc(cell.key),
                number(load.throughput),
                number(wrk.throughput),
                f"{wrk.throughput / load.throughput:.2f}" if load.throughput else "",
                "yes" if cell.generator_bound else "no",
                ms(load.latency_us.p50),
                ms(wrk.latency_us.p50),
            ]
        )
    if not rows:
        return (
            "<p>No cell was measured with wrk: it measures the generator-bound cells where it "
            "is installed (Debian: apt-get install wrk), and every cell with --crosscheck.</p>"
        )
    return table(
        [
            "cell",
            "locust req/s",
            "wrk req/s",
            "wrk / locust",
            "locust generator-bound",
            "locust p50 ms",
            "wrk p50 ms",
        ],
        rows,
    )


def checks_section(run: RunRecord) -> str:
    checks = run_checks(run)
    if not checks:
        return "<p>No cell to check.</p>"
    failed = [c for c in checks if not c.passed]
    items = "".join(
        f"<li><b>{esc(c.key)}</b>: {esc(c.name)} violated: {esc(c.detail)}</li>" for c in failed
    )
    said = []
    for consistency, what in ((False, "model checks"), (True, "consistency checks")):
        mine = [c for c in checks if c.consistency is consistency]
        if not mine:
            said.append(f"no {what}")
            continue
        names = ", ".join(sorted({c.name for c in mine}))
        good = sum(c.passed for c in mine)
        said.append(f"{good} of {len(mine)} {what} passed ({esc(names)})")
    return (
        f"<p>{'; '.join(said)}. The model checks test what each model must do (they fail for "
        "a server that is not what it claims); the consistency checks test the measurement "
        "(near-identities in a closed loop: they fail only when the harness measured wrongly)."
        "</p>" + (f"<ul class='warning'>{items}</ul>" if items else "")
    )


def micro_section(micro: dict | None) -> str:
    if not micro:
        return (
            "<p>No micro-benchmarks in this run (python -m bench micro; the default profile "
            "runs them).</p>"
        )
    rows = [
        [esc(group), esc(name), f"{median:,.1f}", f"{iqr:,.1f}"]
        for group, name, median, iqr in micro_rows(micro)
    ]
    return table(["benchmark", "model / implementation", "median µs", "IQR µs"], rows)


def cells_section(run: RunRecord) -> str:
    rows, classes = [], []
    for cell in run.cells:
        load = cell.load
        latency = ["", ""]
        if load and load.timed:
            limit = load.censored_above_us or 0.0
            latency = [
                held_ms(load.latency_us.at(name), p, load.requests, limit)
                for name, p in (("p50", 50), ("p99", 99))
            ]
        notes = []
        if cell.generator_bound:
            notes.append("generator-bound")
        if cell.status != "ok":
            notes.append(f"FAILED: {cell.reason[:120]}")
        demand = cell.service_demand
        classes.append(
            "failed" if cell.status != "ok" else ("bound" if cell.generator_bound else "")
        )
        rows.append(
            [
                esc(cell.server),
                esc(cell.workload),
                str(cell.users),
                esc(cell.mode),
                f"open {cell.rate:g}/s" if cell.rate else "closed",
                str(cell.repetition),
                number(load.throughput) if load else "",
                *latency,
                cpu_us(demand.us_per_request, demand.error_us_per_request) if demand else "",
                number(cell.memory.peak_bytes / 2**20, 1) if cell.memory else "",
                number(load.generator_cpu_share * 100) if load else "",
                str(sum(load.failures.values())) if load else "",
                esc(cell.leak.verdict if cell.leak else ""),
                esc("; ".join(notes)),
            ]
        )
    header = ["server", "workload", "users", "mode", "loop", "run", "req/s", "p50 ms", "p99 ms"]
    header += ["server CPU µs/req", "memory MiB", "locust CPU %", "errors", "leak", "notes"]
    return table(header, rows, row_css=classes)


def methodology(run: RunRecord) -> str:
    settings = run.settings
    affinity = run.metadata.affinity
    where = (
        f"elsewhere, at {esc(settings.target)}, not started here"
        if settings.target
        else f"started afresh for it, in its own process group on a loopback port, pinned to "
        f"CPU {affinity.server_cpus}"
    )
    ceilings = "; ".join(
        f"{mode}: {c.throughput:,.0f} req/s (locust at {c.generator_cpu_share:.0%} of its CPU)"
        for mode, c in run.generator_ceiling.items()
    )
    return (
        f"<p>Every cell ran on a server {where}, the load generator on "
        f"{affinity.generator_cpus or 'any CPU'} ({affinity.generator_processes} "
        f"process). Before "
        f"timing, the workload's answer was checked. The load generator is one locust process "
        f"for the whole run with the <b>{esc(settings.client)}</b> client, closed "
        f"loop (each user sends its next request when the last is answered) unless marked open; "
        f"{settings.warmup_s:g} s of warm-up not recorded, then {settings.duration_s:g} s "
        f"recorded, its window on the telemetry's clock. Repeated cells ran in "
        f"{settings.repeat} rounds after the cells measured once, each round in a shuffled "
        f"order (seed {settings.seed}). A cell is generator-bound when locust used 85 "
        f"% or more of its CPU during the window, or its CPUs were 90 % busy with other work; "
        f"it is never ranked, and wrk measures it where installed. The generator's ceiling "
        f"against the fastest server ({esc(ceilings or 'not measured')}) is context only. "
        f"Server CPU per request is the tree's CPU over the window (live processes, zombies, "
        f"reaped children) per answer: a cost at that load, not a capacity. "
        f"{accounting_sentence(run)} Telemetry sampled every 0.1 s and at the window's ends; "
        f"after the load, at least {settings.settle_s:g} s and until the server was at rest "
        f"(no connection open or queued, no child serving; at most 5 s more): a leak is judged "
        f"only then, and a server still serving reads 'still busy'. The leaking servers were "
        f"capped at {settings.request_cap} requests per cell. A percentile is shown only "
        f"with {BEYOND} answers past it.</p>" + reach(run)
    )


def accounting_sentence(run: RunRecord) -> str:
    """How this run's cells counted their server's CPU and memory, from their records."""
    methods: dict[tuple[str, float, str], int] = {}
    for cell in run.cells:
        method = cell.accounting
        if method:
            key = (method.cpu, method.cpu_resolution_us, method.memory)
            methods[key] = methods.get(key, 0) + 1
    if not methods:
        return "No cell counted a server's CPU here."
    said = []
    for (cpu, unit, memory), count in methods.items():
        resolution = f"{unit * 1000:g} ns" if unit < 1 else f"{unit:g} µs"
        said.append(
            f"{count} cell(s): CPU by {cpu}, to {resolution} (each figure with ± two units "
            f"per request, a bound below five), memory by {memory}"
        )
    return "Accounting: " + "; ".join(said) + "."


def reach(run: RunRecord) -> str:
    """What this run did beyond the usual: a server elsewhere, servers the user added, a locust
    master with workers, servers given more than one CPU (each from run.json)."""
    settings = run.settings
    said = []
    if settings.target:
        said.append(
            f"The server under test ran elsewhere, at {esc(settings.target)}: the harness "
            f"neither started, pinned nor watched it, so its cells have <b>no telemetry</b>: no "
            f"server CPU per request, no process tree, no leak verdict. Its figures are the load "
            f"generator's alone."
        )
    for added in settings.added_servers:
        said.append(
            f"<b>{esc(added['name'])}</b> is a server added for this run: "
            f"<code>{esc(shlex.join(added['command']))}</code> ({added['interface'].upper()}, "
            f"{added['workers']} worker(s)), measured like every other row."
        )
    app = settings.app
    if app:
        said.append(
            f"The app workload is the user's application {esc(app['app'] or '(at the target)')}"
            f" ({app['interface'].upper()}): GET {esc(app['path'])}, a right answer being "
            f"status {app['status']}"
            + (f" with the body {esc(repr(app['body'])[:80])}" if app.get("body") else "")
            + "."
        )
    workers = run.metadata.affinity.generator_workers
    if workers and (workers.local or workers.remote):
        said.append(
            f"The load came from a locust master and its workers ({workers.local or 0} "
            f"started here, {workers.remote or 0} on other machines), each worker's share "
            f"started at the master's moment and its window put on the master's clock (the "
            f"error is one message's delay: well under a millisecond on loopback)."
        )
    given = {c.server: len(c.server_cpus or ()) for c in run.cells}
    if len(set(given.values()) - {0}) > 1:  # not every server had as many CPUs
        wide = ", ".join(f"{name} on {n}" for name, n in sorted(given.items()) if n > 1)
        said.append(
            f"Servers of several workers had as many CPUs ({esc(wide)}); the others one: "
            f"compare their throughput per CPU, or their CPU per request."
        )
    return f"<p>{' '.join(said)}</p>" if said else ""


# the order bench.store.metadata writes run.json's metadata in (the record's differs)
STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1400px; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 1em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
td.n { text-align: right; white-space: nowrap; }
tr.failed { background: #fde2e2; } tr.bound { background: #fff6d6; }
figure { margin: 1.5em 0; } img { max-width: 100%; }
figcaption { font-size: 13px; color: #555; } .warning { color: #a00; }
p.answer { font-size: 15px; max-width: 1100px; } .shown { color: #070; } .missing { color: #a00; }
"""


def page(
    run: RunRecord,
    images: dict[str, str],
    micro: dict | None = None,
    conformance: dict | None = None,
) -> str:
    meta = run.metadata
    settings = run.settings
    levels, found = answer(run)
    status_note = (
        ""
        if run.status == "complete"
        else f"<p class='warning'>This run is <b>{esc(run.status)}</b>: only the cells "
        "completed are shown.</p>"
    )
    figures = "\n".join(
        f"<figure><img alt='{esc(name)} chart' src='data:image/png;base64,{data}'>"
        f"<figcaption>{esc(CAPTIONS.get(name, 'Latency spectrum, p50 to p99.99, per server.'))}"
        f"</figcaption></figure>"
        for name, data in images.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Web server concurrency models: run {esc(meta.started)}</title>
<style>{STYLE}</style></head><body>
<h1>Which concurrency model wins, by how much, and why</h1>
{status_note}
<p>{len(run.cells)} cells, profile <b>{esc(settings.profile)}</b>,
{settings.duration_s:g} s windows; servers: {esc(", ".join(servers_in(run)))};
{esc(meta.cpu_model)}, {meta.cpu_count} CPUs, Python {esc(meta.python)}, commit
{esc(meta.commit[:10])}.</p>
<h2>The answer</h2>
{answer_section(levels, drift_sentence(found), not_ours(run))}
<h2>Lessons from this run</h2>
{lessons_section(run)}
<h2>Measured once</h2>
<p>Cells run once are measurements, not rankings: one run cannot tell two servers apart.</p>
{once_section(run)}
<h2>Open loop</h2>
<p>Requests sent on a fixed schedule whatever the answers. Percentiles are over every request
due in the window, counted from its due time (corrected), less the generator's own lateness
(its timers wake late: that part, shown apart, is not the server's; a user still waiting for
the server's last answer is, and stays in); a request never answered by the end
of the drain counts as later than any answer, so a percentile that falls among those reads
"&gt; limit". Beside them, the same requests timed from their actual send (uncorrected: what a
closed loop reports) and the generator's own lag from due time to send.</p>
{open_loop_section(run)}
<h2>wrk beside locust</h2>
{wrk_section(run)}
<h2>Model-expectation checks</h2>
{checks_section(run)}
<h2>Charts</h2>
{figures}
<h2>Micro-benchmarks</h2>
{micro_section(micro)}
{f"<h2>{CONFORMANCE_TITLE}</h2>{conformance_section(conformance)}" if conformance else ""}
<h2>Every cell</h2>
<p>Latencies in milliseconds (measured in microseconds). Yellow rows are generator-bound, red
rows failed.</p>
{cells_section(run)}
<h2>Methodology</h2>
{methodology(run)}
<h2>Metadata</h2><pre>{esc(json.dumps(to_json(meta), indent=2))}</pre>
</body></html>
"""
