"""The few lines that make a lesson: the unified diff between two models' files, from their
first function on (the docstrings, imports and environ flags above it differ too, and say less)."""

from __future__ import annotations

import ast
import difflib
import re

from bench.launch import REPO_ROOT

MODELS = REPO_ROOT / "servers" / "models"
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def code_start(text: str) -> int:
    """The line (from 1) where a module's first function or class begins (its decorators
    included): what comes before is its docstring, imports and flags."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return 1


def code_diff(before: str, after: str, most: int = 30) -> list[str]:
    """`diff -u` of servers/models/BEFORE.py and AFTER.py from their first function on (line
    numbers as in the files); at most `most` lines, then one that says how to see the rest."""
    paths = [MODELS / f"{name}.py" for name in (before, after)]
    names = [str(path.relative_to(REPO_ROOT)) for path in paths]
    texts = [path.read_text() for path in paths]
    starts = [code_start(text) for text in texts]
    old, new = (text.splitlines()[start - 1 :] for text, start in zip(texts, starts, strict=True))
    lines = []
    for line in difflib.unified_diff(old, new, names[0], names[1], n=2, lineterm=""):
        if match := HUNK.match(line):  # numbered from the code's start: renumber as the files
            a, b, c, d = match.groups()
            line = (
                f"@@ -{int(a) + starts[0] - 1}{_count(b)} +{int(c) + starts[1] - 1}{_count(d)} @@"
            )
        lines.append(line)
    if len(lines) > most:
        rest = len(lines) - most
        lines = [*lines[:most], f"... {rest} more lines: diff -u {names[0]} {names[1]}"]
    return lines


def _count(count: str | None) -> str:
    return "" if count is None else f",{count}"
