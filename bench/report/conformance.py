"""The conformance table (`python -m bench conformance`), drawn from its conformance.json and
nothing else: case classes by servers, ours beside the peers, each cell the cases passed of all;
then each server's failures, case by case, what was expected and what came, as the server's
interface shows it (bench/conformance/sockets.py says how).

`markdown` is what the command prints and stores as conformance.md (and docs/conformance.md
shows); `html_section` is the section of report.html, and `page` a page of its own for a folder
that holds conformance.json alone.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

esc = html.escape
TITLE = "Conformance: the corpus over sockets"


def _cell(server: dict, cls: str, size: int) -> str:
    if server.get("error"):
        return "—"
    return f"{server['passed'].get(cls, 0)}/{size}"


def _total(server: dict, total: int) -> str:
    return "—" if server.get("error") else f"**{sum(server['passed'].values())}/{total}**"


def _view(server: dict) -> str:
    if server.get("error"):
        return "—"
    target = {"raw": "raw target", "raw-path": "raw path", "decoded": "decoded path"}
    return f"{server['interface'].upper()}, {target.get(server['target'], server['target'])}"


def rows(document: dict) -> tuple[list[str], list[list[str]]]:
    """The table's header and rows, as plain text."""
    servers = document["servers"]
    classes: dict[str, int] = document["classes"]
    header = ["class (cases)", *(server["name"] for server in servers)]
    body = [["kind", *(_kind(server) for server in servers)]]
    body += [
        [f"{cls} ({size})", *(_cell(s, cls, size) for s in servers)]
        for cls, size in classes.items()
    ]
    total = sum(classes.values())
    body.append(
        [
            f"**all** ({total})",
            *(
                "—" if s.get("error") else f"**{sum(s['passed'].values())}/{total}**"
                for s in servers
            ),
        ]
    )
    body.append(["interface, target compared", *(_view(s) for s in servers)])
    body.append(["closes after every answer", *(_yes(s.get("per_connection")) for s in servers)])
    body.append(["serves a plain GET after", *(_after(s) for s in servers)])
    body.append(["seconds: the cases (start to stop)", *(_seconds(s) for s in servers)])
    return header, body


def _kind(server: dict) -> str:
    if server["kind"] == "ours":
        return "ours"
    return f"peer {server.get('version') or ''}".strip()


def _yes(value: object) -> str:
    return "yes" if value else ""


def _after(server: dict) -> str:
    if server.get("error"):
        return server["error"][:60]
    return "yes" if server.get("still_serves") else "**no**"


def _seconds(server: dict) -> str:
    if server.get("cases_s") is None:
        return ""
    return f"{server['cases_s']:.1f} ({server['seconds']:.1f})"


def markdown(document: dict) -> str:
    """The table, what was left out, then each server's failures (and, for ours, where the
    socket differed from the in-process core)."""
    header, body = rows(document)
    lines = [_line(header), "|" + "---|" * len(header), *(_line(row) for row in body), ""]
    lines += [f"- not installed: **{name}** ({why})" for name, why in document["missing"].items()]
    lines += [f"- not run over sockets: {s['case']} ({s['why']})" for s in document["skipped"]]
    for server in document["servers"]:
        failures = server.get("failures", [])
        if failures:
            lines += ["", f"### {server['name']}: {len(failures)} failed", ""]
            lines += [
                f"- {f['case']} ({f['class']}): expected {f['expected']}; came {f['came']}"
                for f in failures
            ]
        for difference in server.get("differs_from_core", []):
            lines.append(
                f"- {server['name']} differs from the core on {difference['case']}: core "
                f"{difference['core']}; socket {difference['came']}"
            )
    return "\n".join(line.replace("\n", " ") for line in lines) + "\n"


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def html_section(document: dict) -> str:
    """The table and the failures (folded), for report.html."""
    header, body = rows(document)
    head = "".join(f"<th>{esc(cell)}</th>" for cell in header)
    table = "".join(
        "<tr>" + "".join(f"<td>{_bold(cell)}</td>" for cell in row) + "</tr>" for row in body
    )
    notes = [
        f"not installed: {esc(name)} ({esc(why)})" for name, why in document["missing"].items()
    ]
    notes += [
        f"not run over sockets: {esc(s['case'])} ({esc(s['why'])})" for s in document["skipped"]
    ]
    folded = []
    for server in document["servers"]:
        items = [
            f"<li>{esc(f['case'])} ({esc(f['class'])}): expected {esc(f['expected'])}; came "
            f"{esc(f['came'])}</li>"
            for f in server.get("failures", [])
        ]
        items += [
            f"<li class='warning'>differs from the core on {esc(d['case'])}: core "
            f"{esc(d['core'])}; socket {esc(d['came'])}</li>"
            for d in server.get("differs_from_core", [])
        ]
        if items:
            folded.append(
                f"<details><summary>{esc(server['name'])}: {len(items)}</summary>"
                f"<ul>{''.join(items)}</ul></details>"
            )
    return (
        f"<p>{document['cases']} cases of RFC 9110/9112 sent over loopback to each server "
        f"running the echo application, measured {esc(document['started'])} "
        f"(<code>{esc(document['command'])}</code>); each cell is the cases passed of all, as "
        "the server's interface shows what the application received.</p>"
        f"<table><tr>{head}</tr>{table}</table>"
        + (f"<ul>{''.join(f'<li>{esc(note)}</li>' for note in notes)}</ul>" if notes else "")
        + "".join(folded)
    )


def _bold(cell: str) -> str:
    if cell.startswith("**") and cell.endswith("**"):
        return f"<b>{esc(cell[2:-2])}</b>"
    return esc(cell).replace("**", "")


def page(document: dict) -> str:
    """A page of its own, for a folder that holds conformance.json alone."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{TITLE}</title><style>body {{ font-family: sans-serif; margin: 2em; }} "
        "table { border-collapse: collapse; font-size: 13px; } th, td { border: 1px solid #ccc; "
        "padding: 3px 7px; } .warning { color: #a00; }</style></head><body>"
        f"<h1>{TITLE}</h1>{html_section(document)}</body></html>\n"
    )


def draw(folder: Path) -> Path:
    """conformance.html beside the folder's conformance.json."""
    path = folder / "conformance.html"
    path.write_text(page(json.loads((folder / "conformance.json").read_text())))
    return path
