"""Presentation: pure functions of stored results. `python -m bench report [FOLDER] [--svg]`
redraws whatever a results folder holds: a run (run.json: its charts, report.html and summary.md,
with the micro-benchmarks, the scenario steps and a conformance table beside it), a capacity sweep
(capacity.json), the scenarios (scale.json, slowclients.json, crosscheck.json), the conformance
table (conformance.json: conformance.html), micro-benchmarks alone (micro.json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt

from bench import options
from bench.report.html import draw
from bench.report.summary import SUMMARY
from bench.store import RunFormatError, results_root

__all__ = ["COMMAND", "draw", "main", "redraw"]


def redraw(folder: Path, svg: bool = False, hgrm: bool = False) -> list[Path]:
    """Every chart and page that `folder`'s result files make; the paths written."""
    from bench.report import capacity_chart, scenario_charts

    written: list[Path] = []
    if (folder / "run.json").is_file():
        written.append(draw(folder, svg=svg, hgrm=hgrm))
        written += [folder / "cells.csv", folder / "ranking.csv", folder / SUMMARY]
        for step in ("capacity", "scenarios"):  # a full run's scenario steps, in its folder
            if (folder / step).is_dir():
                written += redraw(folder / step, svg)
        return written
    if (folder / "capacity.json").is_file():
        written += capacity_chart.draw(folder)
    written += scenario_charts.draw(folder)
    if (folder / "conformance.json").is_file():
        from bench.report import conformance

        written.append(conformance.draw(folder))
    if (folder / "micro.json").is_file() and not written:
        from bench.report.charts import micro_chart

        figure = micro_chart(json.loads((folder / "micro.json").read_text()))
        written.append(folder / "micro.png")
        figure.savefig(written[-1], dpi=110)
        plt.close(figure)
    return written


COMMAND = options.Command(
    "report",
    prog="python -m bench report",
    description="Redraw the charts (and report.html) of a results folder, without measuring "
    "anything again.",
)


def main(argv: list[str] | None = None) -> int:
    parser = COMMAND.parser()
    args = parser.parse_args(argv)
    folder = args.folder or results_root() / "latest"
    try:
        written = redraw(folder, svg=args.svg, hgrm=args.hgrm)
    except (RunFormatError, OSError, ValueError, KeyError) as exc:
        print(f"python -m bench report: error: {exc}", file=sys.stderr)
        return 2
    if not written:
        print(f"python -m bench report: error: no results to draw in {folder}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0
