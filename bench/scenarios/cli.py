"""What the scenarios' commands (scale, slowclients, crosscheck) share: the model list option,
and the frame of a run: a results folder, Ctrl-C and an unwritable folder said in one line, the
table, the notes, the chart."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.launch import REPO_ROOT
from bench.report.scenario_charts import draw
from servers.models import MODELS

console = Console(stderr=True)


def add_models_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated, from {', '.join(MODELS)} (default: all)",
    )


def chosen_models(parser: argparse.ArgumentParser, text: str) -> tuple[str, ...]:
    """The --models list, or a one-line error naming what is unknown."""
    models = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    return models


def run_command(
    name: str,
    out: Path | None,
    measure: Callable[[Path], dict],
    table: Callable[[dict], Table],
) -> int:
    """measure(folder) writes folder/<name>.json; then the table, the notes and the chart."""
    out = out or REPO_ROOT / "results" / time.strftime(f"{name}-%Y%m%d-%H%M%S")
    started = time.monotonic()
    try:
        document = measure(out)
    except KeyboardInterrupt:
        console.print(f"\n[yellow]interrupted: {name}.json keeps what was finished[/]")
        return 130
    except OSError as exc:
        console.print(f"[red]cannot write results to {out}: {exc.strerror or exc}[/]")
        return 2
    Console(width=200).print(table(document))
    for note in document.get("notes", []):
        console.print(f"note: {note}")
    [chart] = draw(out, (f"{name}.json",))
    stored = out / f"{name}.json"
    console.print(f"{time.monotonic() - started:.0f} s; stored in {stored}; chart {chart}")
    return 0
