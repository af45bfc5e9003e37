"""The process groups a run started, on disk, so that a later run finds and stops what a crashed
one left running."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import psutil

from bench.store import write_json
from bench.telemetry.accounting import harness_id

REGISTRY = ".processes.json"  # in the results folder: what is running, for after a crash


class Registry:
    """The process groups this run started, on disk, so that a later run can find leftovers."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / REGISTRY
        self.entries: dict[str, dict] = {}
        self.harness = harness_id(os.getpid())  # while it runs, its entries are no leftovers

    def add(self, pid: int, what: str) -> None:
        with contextlib.suppress(psutil.Error):
            created = psutil.Process(pid).create_time()
            self.entries[str(pid)] = {"what": what, "created": created, "harness": self.harness}
            self._save()

    def remove(self, pid: int) -> None:
        if self.entries.pop(str(pid), None) is not None:
            self._save()

    def _save(self) -> None:
        write_json(self.path, self.entries, indent=None)


def stop_leftovers(results_root: Path) -> list[str]:
    """Find process groups that earlier runs registered and left running; stop them; say so."""
    found = []
    for registry in results_root.glob(f"*/{REGISTRY}"):
        try:
            entries = json.loads(registry.read_text())
        except (OSError, ValueError):
            continue
        if _running(entries):
            continue  # another harness's, still at work (a run beside a soak, say)
        for pid, entry in entries.items():
            try:
                process = psutil.Process(int(pid))
                if abs(process.create_time() - entry["created"]) > 0.01:
                    continue  # the pid was reused by an unrelated process: not ours
            except (psutil.Error, ValueError, KeyError):
                continue
            found.append(f"{entry.get('what', '?')} (pid {pid}) left by {registry.parent.name}")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(pid), signal.SIGKILL)
        registry.unlink(missing_ok=True)
    return found


def _running(entries: dict) -> bool:
    """Whether another harness, still running, wrote these entries."""
    for entry in entries.values():
        harness = str(entry.get("harness", "")) if isinstance(entry, dict) else ""
        pid = harness.split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and harness_id(int(pid)) == harness:
            return True
    return False
