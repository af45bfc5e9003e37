"""Run: the stages of a run, cell after cell: launch, verify, warm up and load, settle, store.

Data flows one way: the plan decides the cells; each cell's figures go into run.json as soon as
the cell ends; nothing is computed from figures here that the report could not recompute.
Every exit path (normal end, a failed cell, Ctrl-C or SIGTERM, a crash) stops and reaps what
was started; processes a crashed run left behind are found and stopped by the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import time
from dataclasses import asdict
from pathlib import Path

import psutil
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench.crosscheck import crosscheck
from bench.faults import (
    Interrupted,
    cell_verdict,
    check_still_answers,
    interrupt_on_first_signal,
    restore_handlers,
)
from bench.launch import LaunchError, ServerProcess, cpu_plan, free_port, signals_deferred
from bench.load import LoadResult, run_locust
from bench.plan import SERVERS, WORKLOADS, Cell, Plan, ServerSpec
from bench.store import metadata, write_json, write_run
from bench.telemetry import Sampler, leak_verdict, listen_overflows
from bench.verify import verify

GENERATOR_BOUND = 0.8  # a cell at 80 % of the generator's ceiling measures the generator
REGISTRY = ".processes.json"  # in the results folder: what is running, for after a crash


class Registry:
    """The process groups this run started, on disk, so that a later run can find leftovers."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / REGISTRY
        self.entries: dict[str, dict] = {}

    def add(self, pid: int, what: str) -> None:
        with contextlib.suppress(psutil.Error):
            created = psutil.Process(pid).create_time()
            self.entries[str(pid)] = {"what": what, "created": created}
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


class Runner:
    def __init__(self, plan: Plan, folder: Path, quiet: bool = False) -> None:
        self.plan = plan
        self.settings = plan.settings
        self.folder = folder
        self.quiet = quiet
        self.console = Console(stderr=True, quiet=False)
        self.server_cpus, self.generator_cpus = cpu_plan(self.settings.cpu_split)
        self.processes = len(self.generator_cpus) if self.generator_cpus else 1
        self.registry = Registry(folder)
        self.document: dict = {
            "metadata": metadata(
                asdict(self.settings),
                {
                    "server_cpus": sorted(self.server_cpus or []),
                    "generator_cpus": sorted(self.generator_cpus or []),
                    "generator_processes": self.processes,
                },
            ),
            "plan": plan.as_dict(),
            "status": "running",
            "leftovers_found": [],
            "generator_ceiling": None,
            "cells": [],
        }

    # the whole run --------------------------------------------------------------------------

    def run(self) -> int:
        previous = interrupt_on_first_signal()
        self.document["leftovers_found"] = stop_leftovers(self.folder.parent)
        for line in self.document["leftovers_found"]:
            self.say(f"[yellow]found and stopped a leftover of an earlier run:[/] {line}")
        for note in self.plan.notes:
            self.say(f"[dim]{note}[/]")
        self.save()
        code = 0
        try:
            with self._progress() as progress:
                task = progress.add_task(
                    "cells", total=len(self.plan.cells) + (1 if self.settings.ceiling else 0)
                )
                if self.settings.ceiling:
                    progress.update(task, description="generator ceiling")
                    self.measure_ceiling()
                    progress.advance(task)
                for group in self._groups():
                    self.run_group(group, progress, task)
            self.document["status"] = "complete"
        except (KeyboardInterrupt, Interrupted):
            self.document["status"] = "interrupted"
            self.say("[yellow]interrupted: the cells completed so far are kept[/]")
            code = 130
        finally:
            restore_handlers(previous)
            self.save()
            self.registry.path.unlink(missing_ok=True)
        failed = sum(cell["status"] == "failed" for cell in self.document["cells"])
        self.say(
            f"{len(self.document['cells'])} cells, {failed} failed; "
            f"stored in {self.folder / 'run.json'}"
        )
        return code

    def _progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=self.console,
            disable=self.quiet,
            transient=True,
        )

    def say(self, message: str) -> None:
        self.console.print(message, highlight=False, soft_wrap=True)

    def save(self) -> None:
        write_run(self.folder, self.document)

    def _groups(self) -> list[list[Cell]]:
        """Consecutive cells that share one server process (leaking servers: one per cell), started
        afresh for every repetition."""
        groups: list[list[Cell]] = []

        def shared(cell: Cell) -> tuple:
            return (cell.server, cell.workload, cell.mode, cell.repetition)

        for cell in self.plan.cells:
            leaking = SERVERS[cell.server].leaking
            if groups and not leaking and shared(groups[-1][0]) == shared(cell):
                groups[-1].append(cell)
            else:
                groups.append([cell])
        return groups

    # one server, its cells ---------------------------------------------------------------------

    def run_group(self, cells: list[Cell], progress: Progress, task: object) -> None:
        first = cells[0]
        spec, workload = SERVERS[first.server], WORKLOADS[first.workload]
        cap = self.settings.request_cap if spec.leaking else None
        port = free_port() if spec.kind == "peer" else None
        command = spec.command(workload, port, cap)
        rlimits = {resource.RLIMIT_NOFILE: (spec.nofile, spec.nofile)} if spec.nofile else {}
        server = ServerProcess(
            command, port=port, cpus=self.server_cpus, rlimits=rlimits, log_dir=self.folder
        )
        try:
            try:
                server.start(timeout=self.settings.start_timeout_s)
            except LaunchError as exc:
                for cell in cells:
                    self.record_failure(
                        cell, command, f"did not start: {exc.reason}", str(exc)[-2000:]
                    )
                    progress.advance(task)  # type: ignore[arg-type]
                return
            self.registry.add(server.pid, f"server {spec.name}")
            reason = verify(server.host, server.port, workload, close=first.mode == "close")
            if reason is not None:
                for cell in cells:
                    self.record_failure(
                        cell, command, f"verification failed: {reason}", server.output()[-2000:]
                    )
                    progress.advance(task)  # type: ignore[arg-type]
                return
            for cell in cells:
                progress.update(task, description=cell.key)  # type: ignore[arg-type]
                if server.popen is not None and server.popen.poll() is not None:
                    self.record_failure(
                        cell,
                        command,
                        server.fault or "the server had exited before the cell",
                        server.output()[-2000:],
                    )
                else:
                    self.run_cell(cell, spec, server, command, cap)
                progress.advance(task)  # type: ignore[arg-type]
        finally:
            with signals_deferred():  # a Ctrl-C now waits until the server is stopped and reaped
                server.stop()
                if server.popen is not None:
                    self.registry.remove(server.pid)
                server.remove_log()

    def run_cell(
        self,
        cell: Cell,
        spec: ServerSpec,
        server: ServerProcess,
        command: list[str],
        cap: int | None,
    ) -> None:
        settings = self.settings
        workload = WORKLOADS[cell.workload]
        started = time.time()
        sampler = Sampler(server.pid, interval=0.1).start()
        overflows_before = listen_overflows()
        time.sleep(0.1)  # a baseline before the load (locust then takes ~1 s to start sending)
        load_start = sampler.now()
        load = run_locust(
            server.url,
            workload.path,
            cell.users,
            warmup_s=settings.warmup_s,
            duration_s=settings.duration_s,
            close=cell.mode == "close",
            max_requests=cap,
            out_dir=self.folder / "generator",
            cpus=self.generator_cpus,
            processes=self.processes,
            timeout_s=settings.request_timeout_s,
            rate=cell.rate,
            grace_s=settings.generator_grace_s,
            body=workload.body,
        )
        load_end = sampler.now()
        time.sleep(settings.settle_s)
        samples = sampler.stop()
        overflows_after = listen_overflows()
        exited = server.popen.poll() if server.popen else None
        hung = ""  # the leaking servers stop answering by design (EMFILE, the cap): not probed
        if exited is None and not spec.leaking:
            hung = check_still_answers(
                server, workload, cell.mode == "close", settings.request_timeout_s
            )
        status, reason = cell_verdict(load, exited, cap, hung)
        checked = None
        if settings.crosscheck and status == "ok" and not cell.rate and not spec.leaking:
            checked = crosscheck(  # the same cell again, with wrk (None when wrk is absent)
                server.url,
                workload.path,
                cell.users,
                settings.duration_s,
                cell.mode == "close",
                self.generator_cpus,
            )
        record = {
            **asdict(cell),
            "key": cell.key,
            "status": status,
            "reason": reason,
            "command": command,
            "request_cap": cap,
            "started": started,
            "load": asdict(load),
            "generator_bound": self.generator_bound(load),
            "telemetry": {
                "interval_s": 0.1,
                "load_window_s": [load_start, load_end],
                "series": sampler.series(),
            },
            "leak": leak_verdict(samples, load_start, load_end),
            "listen_overflows": {
                key: overflows_after[key] - overflows_before[key] for key in overflows_before
            },
            "server_output_tail": server.output()[-2000:] if status == "failed" else "",
            "crosscheck": checked,
        }
        self.document["cells"].append(record)
        self.save()
        self.report_cell(record, load)

    def record_failure(self, cell: Cell, command: list[str], reason: str, output: str) -> None:
        self.document["cells"].append(
            {
                **asdict(cell),
                "key": cell.key,
                "status": "failed",
                "reason": reason,
                "command": command,
                "request_cap": None,
                "started": time.time(),
                "load": None,
                "generator_bound": False,
                "telemetry": None,
                "leak": None,
                "listen_overflows": None,
                "server_output_tail": output,
            }
        )
        self.save()
        self.say(f"[red]✗[/] {cell.key}: {reason.splitlines()[0][:160]}")

    def report_cell(self, record: dict, load: LoadResult) -> None:
        if record["status"] != "ok":
            self.say(f"[red]✗[/] {record['key']}: {record['reason'][:160]}")
            return
        latency = load.latency_us
        flags = []
        if record["generator_bound"]:
            flags.append("[yellow]generator-bound[/]")
        if load.failed:
            flags.append(f"[red]{load.failed} failed[/]")
        leak = record["leak"] or {}
        if leak.get("verdict") == "leaks":
            flags.append(f"leaks: +{leak['fds_left']} fds, +{leak['zombies_left']} zombies")
        self.say(
            f"[green]✓[/] {record['key']}: {load.throughput:,.0f} req/s, "
            f"p50 {latency.get('p50', 0) / 1000:.2f} ms, "
            f"p99 {latency.get('p99', 0) / 1000:.2f} ms {' '.join(flags)}"
        )

    # the generator's ceiling ---------------------------------------------------------------------

    def measure_ceiling(self) -> None:
        """What locust can deliver here: the fastest server, hello, keep-alive, most users."""
        spec, workload = SERVERS["asyncio"], WORKLOADS["hello"]
        users = max(max(self.settings.users), 16)
        command = spec.command(workload, None, None)
        with ServerProcess(command, cpus=self.server_cpus, log_dir=self.folder) as server:
            self.registry.add(server.pid, "ceiling server")
            load = run_locust(
                server.url,
                workload.path,
                users,
                warmup_s=self.settings.warmup_s,
                duration_s=self.settings.duration_s,
                close=False,
                max_requests=None,
                out_dir=self.folder / "generator",
                cpus=self.generator_cpus,
                processes=self.processes,
                grace_s=self.settings.generator_grace_s,
            )
            self.registry.remove(server.pid)
        self.document["generator_ceiling"] = {
            "server": spec.name,
            "workload": workload.name,
            "users": users,
            "throughput": load.throughput,
            "generator_cpu_share": load.generator_cpu_share,
            "processes": self.processes,
            "error": load.error,
        }
        self.save()
        self.say(
            f"generator ceiling: {load.throughput:,.0f} req/s against {spec.name} "
            f"({users} users, {self.processes} locust process(es), generator CPU "
            f"{load.generator_cpu_share:.0%}); cells at 80 % of it are generator-bound"
        )

    def generator_bound(self, load: LoadResult) -> bool:
        """At 80 % of the ceiling, the generator sets the figure (in open loop too: it cannot offer
        more than it can send)."""
        ceiling = self.document["generator_ceiling"]
        if not ceiling or not ceiling["throughput"]:
            return False
        return load.throughput >= GENERATOR_BOUND * ceiling["throughput"]
