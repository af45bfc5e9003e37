"""summary.md: a run's answer, its lessons and its scenario tables in Markdown, small enough to
commit and read on a forge (results/full/summary.md is one), drawn from the run's folder alone:
run.json, and the scenario steps' own JSON beside it (capacity/, scenarios/, conformance.json).

Every table is the one the terminal or report.html shows, with the same figures: the answer's
tables and sentences from bench/report/answer.py, the scenarios' tables from each scenario's own
`render` (rich tables, turned into Markdown here), so nothing is said twice in two ways.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table
from rich.text import Text

from bench.record import RunRecord
from bench.report.answer import Level, answer, drift_sentence, interval, short, times
from bench.report.lessons import judge
from bench.report.scenario_tables import capacity_table, scale_table, slow_table
from bench.stats import cpu_us

SUMMARY = "summary.md"


def cell_text(value: str) -> str:
    """A table cell as Markdown text: pipes escaped, one line."""
    return value.replace("|", "\\|").replace("\n", " ")


def plain(renderable: object) -> str:
    """A rich table's cell, title or header as text: a string there is rich markup."""
    return (
        renderable.plain
        if isinstance(renderable, Text)
        else Text.from_markup(str(renderable)).plain
    )


def markdown_table(
    headers: list[str], rows: list[list[str]], right: frozenset[int] | set[int] = frozenset()
) -> str:
    """A Markdown table; the columns in `right` aligned right (figures)."""
    align = ["---:" if index in right else "---" for index in range(len(headers))]
    lines = ["| " + " | ".join(cell_text(h) for h in headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(cell_text(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def from_rich(table: Table) -> str:
    """A rich table (a scenario's own) as a Markdown table, its title above it."""
    columns = table.columns
    cells = zip(*(column.cells for column in columns), strict=True)
    rows = [[plain(cell) for cell in row] for row in cells]
    right = {i for i, column in enumerate(columns) if column.justify == "right"}
    title = f"{cell_text(plain(table.title))}\n\n" if table.title else ""
    caption = f"\n\n{cell_text(plain(table.caption))}" if table.caption else ""
    return title + markdown_table([plain(c.header) for c in columns], rows, right) + caption


def level_section(level: Level) -> str:
    """One level of the answer: its sentences, then its table (place, figures, the test)."""
    runs = "/".join(map(str, sorted({e.summary.n for e in level.entries})))
    rows = []
    for entry in level.entries:
        s = entry.summary
        rows.append(
            [
                entry.place_label or "-",
                entry.label,
                f"{s.throughput.median:,.0f}",
                interval(s.throughput),
                times(entry.times_winner),
                cpu_us(s.demand.median, s.demand_error) if s.demand.n else "",
                f"{s.wrk.median:,.0f}" if s.wrk.n else "",
                short(entry.versus),
            ]
        )
    headers = ["place", "server", "req/s", "spread", "x", "µs CPU/req", "wrk req/s", "vs leader"]
    return (
        f"### {level.title}, {runs} runs each\n\n"
        + " ".join(level.sentences())
        + "\n\n"
        + markdown_table(headers, rows, right={2, 4, 5, 6})
    )


def lessons_section(run: RunRecord) -> str:
    rows = [
        [lesson.program, lesson.model, lesson.lesson, lesson.evidence, lesson.verdict]
        for lesson in judge(run)
    ]
    return markdown_table(
        ["seed program", "model", "lesson", "this run's evidence", "verdict"], rows
    )


def scenario_sections(folder: Path) -> list[str]:
    """The scenario steps' tables, each from its own JSON, for those the folder holds."""
    sections = []
    capacity = folder / "capacity" / "capacity.json"
    if capacity.is_file():
        sections.append("### Capacity\n\n" + from_rich(capacity_table(read(capacity))))
        sections += chart(folder, "capacity/capacity.png", "capacity sweep")
    scale = folder / "scenarios" / "scale.json"
    if scale.is_file():
        sections.append("### C10K\n\n" + from_rich(scale_table(read(scale)["steps"])))
        sections += chart(folder, "scenarios/scale.png", "C10K")
    slow = folder / "scenarios" / "slowclients.json"
    if slow.is_file():
        sections.append("### Slow clients\n\n" + from_rich(slow_table(read(slow)["summary"])))
        sections += chart(folder, "scenarios/slowclients.png", "slow clients")
    conformance = folder / "conformance.json"
    if conformance.is_file():
        from bench.report.conformance import markdown

        table = markdown(read(conformance)).split("\n\n", 1)[0]  # the table, not every failure
        sections.append("### Conformance (cases passed of all)\n\n" + table)
    return sections


def chart(folder: Path, name: str, what: str) -> list[str]:
    """A link to a chart the folder holds (by its path in the folder), or nothing."""
    return [f"![{what}]({name})"] if (folder / name).is_file() else []


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def summary(run: RunRecord, folder: Path) -> str:
    """The run's summary.md: where and how it ran, the answer, the lessons, the scenarios."""
    meta, settings = run.metadata, run.settings
    levels, found = answer(run)
    cells = [c for c in run.cells if c.started]
    span = (max(c.started for c in cells) - min(c.started for c in cells)) if cells else 0.0
    failed = sum(c.status == "failed" for c in run.cells)
    parts = [
        "# Which concurrency model wins, by how much, and why",
        f"A run of {len(run.cells)} cells ({failed} failed), profile {settings.profile}, "
        f"{settings.duration_s:g} s windows, started {meta.started} at commit {meta.commit[:7]}"
        f"{' (with changes not committed)' if meta.dirty else ''}; {meta.cpu_model}, "
        f"{meta.cpu_count} CPUs, Python {meta.python}. Its cells started over "
        f"{span / 60:,.0f} minutes. Written by `python -m bench report` from the run's run.json "
        "(its report.html holds every figure behind these tables).",
        "## The answer",
    ]
    if levels:
        parts += [level_section(level) for level in levels]
        parts.append(drift_sentence(found))
        parts += chart(folder, "throughput.png", "throughput per server")
    else:
        parts.append("This run repeated no cell: it ranks nothing.")
    parts += ["## Lessons from this run", lessons_section(run)]
    scenarios = scenario_sections(folder)
    if scenarios:
        parts += ["## Scenarios", *scenarios]
    return "\n\n".join(parts) + "\n"
