"""Run: the stages of a run, cell after cell (bench/run/runner.py), and what they share."""

from bench.run.runner import REGISTRY, Registry, Runner, server_reports, stop_leftovers

__all__ = ["REGISTRY", "Registry", "Runner", "server_reports", "stop_leftovers"]
