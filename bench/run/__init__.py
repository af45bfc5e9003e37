"""Run: a plan measured cell after cell (runner.py) on a session (session.py), each cell
measured by cell.py, the generator's ceiling by ceiling.py, the terminal in console.py and the
processes started in registry.py."""

from bench.run.cell import server_reports
from bench.run.registry import REGISTRY, Registry, stop_leftovers
from bench.run.runner import Runner
from bench.run.session import Session

__all__ = ["REGISTRY", "Registry", "Runner", "Session", "server_reports", "stop_leftovers"]
