"""Report: the charts and report.html of a run, drawn from its run.json and nothing else.

    python -m bench report [results/<run-id>]     (default: results/latest)

The page is self-contained (the images are embedded), so it opens from disk with no network.
"""

from __future__ import annotations

import base64
import html
import io
import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt

from bench.charts import all_charts, micro_chart, micro_rows, open_loop_rows, servers_in
from bench.checks import check_run
from bench.launch import REPO_ROOT
from bench.stats import NOISY_CV, Estimate, ranking, summarise

CAPTIONS = {
    "throughput": "Requests per second against concurrent users, one panel per workload.",
    "latency-bars": "p50 (solid) and p99 (pale) latency per server at the highest concurrency.",
    "descriptors-zombies": "The parent's open descriptors and the tree's zombies over time, load "
    "shaded: growing lines that stay up after the load are leaks.",
    "children-rss": "Live children and the tree's RSS over time.",
    "efficiency": "Server CPU per 1,000 requests and RSS per connection.",
    "errors": "Failed requests by kind, and cells that failed outright.",
    "open-loop": "Open loop: the p99 counted from each request's intended send time (dark), the "
    "same requests timed from their actual send (middle), and the closed loop's p99 (pale). The "
    "gap is what a closed loop hides: the time requests waited to be sent.",
    "capacity": "Capacity sweep: p99 (and p50) latency against the offered rate, open loop, per "
    "server; each server's capacity is the highest rate within the p99 and error limits.",
    "scale": "C10K: server RSS against idle connections held, per model.",
    "slowclients": "Slow clients: normal users' throughput without and with clients that send "
    "their headers a byte at a time.",
    "micro": "One request's round trip per model (keep-alive, and a new connection each), and "
    "the protocol core in-process against the stdlib's http.server with wsgiref.",
}


def draw(folder: Path) -> Path:
    """Write every chart (PNG and SVG) and report.html into `folder`; return the report's path."""
    run = json.loads((folder / "run.json").read_text())
    micro_path = folder / "micro.json"
    micro = json.loads(micro_path.read_text()) if micro_path.is_file() else None
    charts = all_charts(run)
    if micro:
        charts["micro"] = micro_chart(micro)
    images = {}
    for name, stored in SCENARIO_CHARTS.items():  # drawn by their own steps, from their JSON
        if (folder / stored).is_file():
            images[name] = base64.b64encode((folder / stored).read_bytes()).decode("ascii")
    for name, figure in charts.items():
        figure.savefig(folder / f"{name}.svg", bbox_inches="tight")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(figure)
        (folder / f"{name}.png").write_bytes(buffer.getvalue())
        images[name] = base64.b64encode(buffer.getvalue()).decode("ascii")
    path = folder / "report.html"
    path.write_text(page(run, images, micro))
    return path


SCENARIO_CHARTS = {
    "capacity": "capacity/capacity.png",
    "scale": "scenarios/scale.png",
    "slowclients": "scenarios/slowclients.png",
}


def crosscheck_table(run: dict) -> str:
    """locust's figures beside wrk's for the cells measured by both (--crosscheck)."""
    rows = []
    for cell in run["cells"]:
        wrk, load = cell.get("wrk"), cell.get("load")
        if not wrk or not load or wrk.get("error") or not wrk.get("throughput"):
            continue
        rows.append(
            f"<tr><td>{html.escape(cell['key'])}</td><td>{_number(load['throughput'])}</td>"
            f"<td>{_number(wrk['throughput'])}</td>"
            f"<td>{wrk['throughput'] / load['throughput']:.2f}</td>"
            f"<td>{_number(load['latency_us'].get('p99', 0) / 1000, 2)}</td>"
            f"<td>{_number(wrk['latency_us'].get('p99', 0) / 1000, 2)}</td></tr>"
        )
    if not rows:
        return "<p>No cell was measured with wrk too (--crosscheck, and wrk installed).</p>"
    return (
        "<table><tr><th>cell</th><th>locust req/s</th><th>wrk req/s</th><th>wrk / locust</th>"
        f"<th>locust p99 ms</th><th>wrk p99 ms</th></tr>{''.join(rows)}</table>"
    )


def summary_rows(run: dict) -> list[dict]:
    rows = []
    for cell in run["cells"]:
        load = cell.get("load") or {}
        latency = load.get("latency_us") or {}
        leak = cell.get("leak") or {}
        rows.append(
            {
                "server": cell["server"],
                "workload": cell["workload"],
                "users": cell["users"],
                "mode": cell["mode"],
                "rate": cell.get("rate", 0.0),
                "repetition": cell["repetition"],
                "status": cell["status"],
                "reason": cell["reason"],
                "throughput": load.get("throughput"),
                "p50": latency.get("p50"),
                "p99": latency.get("p99"),
                "p99.9": latency.get("p99.9"),
                "errors": sum((load.get("failures") or {}).values()),
                "generator_bound": cell["generator_bound"],
                "leak": leak.get("verdict", "n/a"),
                "zombies_left": leak.get("zombies_after"),
                "fds_left": leak.get("fds_left"),
            }
        )
    return rows


def lessons(run: dict) -> list[str]:
    """What each teaching server demonstrated in this run, with the figure that shows it."""
    found = []
    cells = [c for c in run["cells"] if c["status"] == "ok" and c.get("leak")]

    def worst(server: str, key: str) -> dict | None:
        mine = [c for c in cells if c["server"] == server]
        return max(mine, key=lambda c: c["leak"].get(key) or 0, default=None)

    for server, key, text in (
        (
            "fork",
            "zombies_after",
            "fork: {v} zombies at the end of one cell ({w}, {u} users): nothing reaps",
        ),
        (
            "fork_wait",
            "zombies_after",
            "fork_wait: {v} zombies at the end of one cell ({w}, {u} users): one wait() per "
            "SIGCHLD misses the signals that coalesced",
        ),
        (
            "fork_leak",
            "fds_left",
            "fork_leak: the parent kept {v} more descriptors at the end of one cell ({w}, {u} "
            "users), one per connection, until accept() failed with EMFILE",
        ),
    ):
        cell = worst(server, key)
        if cell is not None:
            found.append(text.format(v=cell["leak"].get(key), w=cell["workload"], u=cell["users"]))
    reap = [c for c in cells if c["server"] == "fork_reap"]
    if reap:
        found.append(
            f"fork_reap: {max(c['leak']['zombies_after'] for c in reap)} zombies left "
            f"after the same loads: the waitpid loop reaps them all"
        )
    io_cells = {c["server"]: c for c in cells if c["workload"] == "io"}
    if "asyncio" in io_cells and "asyncio-asgi" in io_cells:
        blocking, awaiting = io_cells["asyncio"], io_cells["asyncio-asgi"]
        found.append(
            f"asyncio: a blocking 10 ms view served inline does "
            f"{blocking['load']['throughput']:,.0f} req/s at {blocking['users']} users; "
            f"the same view awaiting (ASGI) does {awaiting['load']['throughput']:,.0f}"
        )
    sleepers = [c for c in cells if c["server"] == "sleep"]
    if sleepers:
        best = max(c["load"]["throughput"] for c in sleepers)
        found.append(
            f"sleep: at most {best:,.0f} req/s whatever the concurrency: each response "
            f"is followed by a 20 ms sleep that every client waits behind"
        )
    return found


def _number(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _estimate(estimate: Estimate, scale: float = 1.0, digits: int = 0) -> str:
    """'median [low to high]', or the one value when there was one repetition."""
    median = _number(estimate.median * scale, digits)
    if len(estimate.values) < 2:
        return median
    low, high = _number(estimate.low * scale, digits), _number(estimate.high * scale, digits)
    return f"{median} <small>[{low} to {high}]</small>"


def ranking_section(run: dict) -> str:
    """Per workload and concurrency: servers ranked by median throughput, with intervals, and
    whether each differs significantly from the next."""
    esc = html.escape
    summaries = summarise(run)
    levels = sorted(
        {(s.workload, s.users, s.mode) for s in summaries if not s.rate},
        key=lambda level: (
            list(dict.fromkeys(c["workload"] for c in run["cells"])).index(level[0]),
            level[1],
            level[2],
        ),
    )
    parts = []
    for workload, users, mode in levels:
        mine = [s for s in summaries if (s.workload, s.users, s.mode) == (workload, users, mode)]
        places, unranked = ranking(mine)
        rows = "".join(
            f"<tr><td>{r.place}</td><td>{esc(r.summary.server)}</td>"
            f"<td>{_estimate(r.summary.throughput)}</td>"
            f"<td>{_estimate(r.summary.p50, 1 / 1000, 2)}</td>"
            f"<td>{_estimate(r.summary.p99, 1 / 1000, 2)}</td><td>{r.summary.n}</td>"
            f"<td class='{'noisy' if r.summary.noisy else ''}'>{r.summary.cv:.1%}</td>"
            f"<td>{_versus_next(r.differs_from_next, r.summary.n)}</td></tr>"
            for r in places
        )
        left_out = (
            f"<p>Not ranked (generator-bound: locust set their figure): "
            f"{esc(', '.join(s.server for s in unranked))}.</p>"
            if unranked
            else ""
        )
        parts.append(
            f"<h3>{esc(workload)}, {users} users, {esc(mode)}</h3>"
            "<table><tr><th>place</th><th>server</th><th>req/s</th><th>p50 ms</th>"
            f"<th>p99 ms</th><th>runs</th><th>CV</th><th>vs the next</th></tr>{rows}</table>"
            f"{left_out}"
        )
    return "".join(parts)


def _loop(rate: float) -> str:
    return f"open {rate:g}/s" if rate else "closed"


def _versus_next(differs: bool | None, runs: int) -> str:
    if differs is None:
        return ""
    if runs < 2:
        return "one run: not tested"
    return "faster (significant)" if differs else "not significantly different"


def open_loop_table(run: dict) -> str:
    rows = open_loop_rows(run)
    if not rows:
        return "<p>No open-loop cell in this run (--open-rate).</p>"
    body = "".join(
        f"<tr><td>{html.escape(r['server'])}</td><td>{html.escape(r['workload'])}</td>"
        f"<td>{r['users']}</td><td>{r['rate']:,.0f}</td><td>{_number(r['throughput'])}</td>"
        f"<td>{_number(r['intended_p50'] / 1000, 2)}</td>"
        f"<td>{_number(r['intended_p99'] / 1000, 2)}</td>"
        f"<td>{_number((r['service_p99'] or 0) / 1000, 2)}</td>"
        f"<td>{_number((r['closed_p99'] or 0) / 1000, 2) if r['closed_p99'] else ''}</td>"
        f"<td>{r['behind']}</td><td>{r['failed'] - r['behind']}</td></tr>"
        for r in rows
    )
    return (
        "<table><tr><th>server</th><th>workload</th><th>connections</th><th>offered req/s</th>"
        "<th>answered req/s</th><th>p50 ms (corrected)</th><th>p99 ms (corrected)</th>"
        "<th>p99 ms (uncorrected)</th><th>closed-loop p99 ms</th><th>behind schedule</th>"
        f"<th>other errors</th></tr>{body}</table>"
    )


def checks_section(run: dict) -> str:
    checks = check_run(run)
    if not checks:
        return "<p>No cell to check.</p>"
    failed = [c for c in checks if not c.passed]
    items = "".join(
        f"<li><b>{html.escape(c.key)}</b>: {html.escape(c.name)} violated: {html.escape(c.detail)}"
        "</li>"
        for c in failed
    )
    names = ", ".join(sorted({c.name for c in checks}))
    return (
        f"<p>{len(checks) - len(failed)} of {len(checks)} checks passed ({html.escape(names)})."
        f"</p>" + (f"<ul class='warning'>{items}</ul>" if items else "")
    )


def micro_table(micro: dict | None) -> str:
    if not micro:
        return "<p>No micro-benchmarks in this run (nox -s micro, or the default profile).</p>"
    rows = "".join(
        f"<tr><td>{html.escape(group)}</td><td>{html.escape(name)}</td><td>{median:,.1f}</td>"
        f"<td>{iqr:,.1f}</td></tr>"
        for group, name, median, iqr in micro_rows(micro)
    )
    return (
        "<table><tr><th>benchmark</th><th>model / implementation</th><th>median µs</th>"
        f"<th>IQR µs</th></tr>{rows}</table>"
    )


def page(run: dict, images: dict[str, str], micro: dict | None = None) -> str:
    meta = run["metadata"]
    settings = meta["settings"]
    esc = html.escape
    rows = []
    for row in summary_rows(run):
        flags = []
        if row["generator_bound"]:
            flags.append("generator-bound")
        if row["status"] != "ok":
            flags.append(f"FAILED: {row['reason'][:120]}")
        css = "failed" if row["status"] != "ok" else ("bound" if row["generator_bound"] else "")
        rows.append(
            f"<tr class='{css}'><td>{esc(row['server'])}</td><td>{esc(row['workload'])}</td>"
            f"<td>{row['users']}</td><td>{row['mode']}</td>"
            f"<td>{_loop(row['rate'])}</td>"
            f"<td>{row['repetition']}</td>"
            f"<td>{_number(row['throughput'])}</td>"
            f"<td>{_number((row['p50'] or 0) / 1000, 2) if row['p50'] else ''}</td>"
            f"<td>{_number((row['p99'] or 0) / 1000, 2) if row['p99'] else ''}</td>"
            f"<td>{_number((row['p99.9'] or 0) / 1000, 2) if row['p99.9'] else ''}</td>"
            f"<td>{row['errors']}</td><td>{esc(row['leak'])}</td>"
            f"<td>{_number(row['zombies_left'])}</td><td>{esc('; '.join(flags))}</td></tr>"
        )
    figures = "\n".join(
        f"<figure><img alt='{esc(name)} chart' src='data:image/png;base64,{data}'>"
        f"<figcaption>{esc(CAPTIONS.get(name, 'Latency spectrum, p50 to p99.99, per server.'))}"
        f"</figcaption></figure>"
        for name, data in images.items()
    )
    ceiling = (run.get("generator_ceiling") or {}).get("keepalive") or {}
    lesson_items = "".join(f"<li>{esc(text)}</li>" for text in lessons(run)) or (
        "<li>No teaching server in this run.</li>"
    )
    status_note = (
        ""
        if run["status"] == "complete"
        else (
            f"<p class='warning'>This run is <b>{esc(run['status'])}</b>: only the cells completed "
            f"are shown.</p>"
        )
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Benchmark run {esc(meta["started"])}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1400px; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 7px; text-align: right; }}
td:first-child, td:nth-child(2), td:last-child {{ text-align: left; }}
tr.failed {{ background: #fde2e2; }} tr.bound {{ background: #fff6d6; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }}
figcaption {{ font-size: 13px; color: #555; }} .warning {{ color: #a00; }}
td.noisy {{ background: #fde2e2; }}
</style></head><body>
<h1>Web server concurrency models: one run</h1>
{status_note}
<p>{len(run["cells"])} cells, {settings["duration_s"]} s each after {settings["warmup_s"]} s of
warm-up, profile <b>{esc(settings.get("profile", "custom"))}</b>; servers:
{esc(", ".join(servers_in(run)))}.</p>
<h2>What the teaching servers showed</h2><ul>{lesson_items}</ul>
<h2>Ranking</h2>
<p>Servers by median throughput over the repetitions, closed loop; brackets give the 95 %
bootstrap interval of the median. Servers share a place when their difference is not
significant (the interval of the difference includes zero; with 3 repetitions this means their
ranges overlap). A CV (coefficient of variation of throughput) above {NOISY_CV:.0%} is marked:
that cell's repetitions disagree.</p>
{ranking_section(run)}
<h2>Open loop</h2>
<p>Requests sent on a fixed schedule whatever the answers; latency counted from the time each
should have been sent (corrected), beside the same requests timed from their actual send
(uncorrected: what a closed loop reports). Requests due in the window that could not be sent
or answered before the end are counted as behind schedule.</p>
{open_loop_table(run)}
<h2>locust and wrk on the same cells</h2>
<p>Where wrk was run on a cell too: a ratio well above 1 means locust, not the server, set
locust's figure.</p>
{crosscheck_table(run)}
<h2>Model-expectation checks</h2>
{checks_section(run)}
<h2>Summary</h2>
<p>Latencies in milliseconds (measured in microseconds). Yellow rows are generator-bound: locust
used nearly all of its CPU during their window, so they measure the load generator (which
delivered {_number(ceiling.get("throughput"))} req/s against the fastest server, keep-alive), not
the server. Red rows failed.</p>
<table><tr><th>server</th><th>workload</th><th>users</th><th>mode</th><th>loop</th><th>rep</th>
<th>req/s</th><th>p50</th><th>p99</th><th>p99.9</th><th>errors</th><th>leak</th>
<th>zombies after</th><th>notes</th></tr>
{"".join(rows)}
</table>
<h2>Charts</h2>
{figures}
<h2>Micro-benchmarks</h2>
{micro_table(micro)}
<h2>Methodology</h2>
<p>Each server ran in its own process group on a loopback port, pinned to CPU(s)
{meta["affinity"]["server_cpus"]} with locust on {meta["affinity"]["generator_cpus"]}. Before
timing, the workload's answer was checked. Load: locust FastHttpUser, closed loop (each user sends
its next request when the last is answered), {settings["warmup_s"]} s of warm-up not recorded,
then {settings["duration_s"]} s recorded. Latency was recorded per request in microseconds into
an HdrHistogram in each locust process and merged. Telemetry: the server's process tree sampled
every 0.1 s with psutil through the load and {settings["settle_s"]} s after it. RSS of a forked
tree counts shared pages once per process; CPU of the tree leaves out children that had
already exited. The leaking servers were capped at {settings["request_cap"]} requests per cell.
</p>
<h2>Metadata</h2><pre>{esc(json.dumps(meta, indent=2))}</pre>
</body></html>
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    folder = Path(args[0]) if args else REPO_ROOT / "results" / "latest"
    if not (folder / "run.json").is_file():
        print(f"python -m bench report: error: no run.json in {folder}", file=sys.stderr)
        return 2
    try:
        path = draw(folder)
    except (ValueError, KeyError) as exc:
        print(
            f"python -m bench report: error: {folder / 'run.json'} is not a run: {exc}",
            file=sys.stderr,
        )
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
