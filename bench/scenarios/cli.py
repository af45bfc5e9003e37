"""What the scenarios' commands (scale, slowclients, crosscheck) share: the frame of a run: a
results folder and the session on it, Ctrl-C and an unwritable folder said in one line, the
table, the notes, the chart. Their options come from the one vocabulary (bench/options.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.catalog import Catalog
from bench.run import Session
from bench.store import StoreError, results_dir


def run_command(
    name: str,
    out: Path | None,
    measure: Callable[[Session], dict],
    table: Callable[[dict], Table],
    *,
    generator_processes: int = 0,
) -> int:
    """measure(session) writes <its folder>/<name>.json; then the table, the notes and the
    chart. The session (the standard catalog, the CPU plan, the registry, the terminal, and a
    load generator started only if used, of `generator_processes`: 0 for one a generator CPU)
    is made here, on the results folder, once the folder is known to be writable."""
    started = time.monotonic()
    try:
        out = results_dir(name, out)
    except StoreError as exc:  # no folder, so no session yet: its terminal is not there
        Console(stderr=True).print(f"[red]{exc}[/]")
        return 2
    session = Session(out, Catalog.standard(), generator_processes=generator_processes)
    console = session.reporter.console
    try:
        document = measure(session)
    except KeyboardInterrupt:
        console.print(f"\n[yellow]interrupted: {name}.json keeps what was finished[/]")
        return 130
    except StoreError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    except OSError as exc:
        console.print(f"[red]cannot write results to {out}: {exc.strerror or exc}[/]")
        return 2
    from bench.report.scenario_charts import draw  # matplotlib: once there is a chart to draw

    Console(width=200).print(table(document))
    for note in document.get("notes", []):
        console.print(f"note: {note}")
    [chart] = draw(out, (f"{name}.json",))
    stored = out / f"{name}.json"
    console.print(f"{time.monotonic() - started:.0f} s; stored in {stored}; chart {chart}")
    return 0
