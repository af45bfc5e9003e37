"""Presentation: the charts and report.html of a results folder, and the answer as text; pure
functions of stored results (bench/report/html.py draws a run)."""

from bench.report.html import draw, main

__all__ = ["draw", "main"]
