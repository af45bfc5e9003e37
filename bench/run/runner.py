"""Run: the stages of a run, cell after cell: launch, verify, warm up and load, settle, store.

Data flows one way: the plan decides the cells; each cell's figures go into run.json as soon as
the cell ends; nothing is computed from figures here that the report could not recompute.
Every exit path (normal end, a failed cell, Ctrl-C or SIGTERM, a crash) stops and reaps what
was started; processes a crashed run left behind are found and stopped by the next run.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.faults import Interrupted
from bench.launch import LaunchError, VerifyError, launched, reached
from bench.load import GeneratorError
from bench.plan import Cell, Plan
from bench.record import (
    CellRecord,
    MachineSpeed,
    Metadata,
    PlanRecord,
    Probe,
    RunRecord,
    from_json,
    to_json,
)
from bench.run.ceiling import measure_ceiling
from bench.run.cell import measure, planned, server_reports
from bench.run.estimate import estimate
from bench.run.registry import stop_leftovers
from bench.run.session import Session
from bench.store import metadata, write_run
from bench.telemetry.accounting import sweep_leftovers
from bench.telemetry.machine import STEPS, probe
from bench.verify import answers


class Runner:
    """A plan measured cell after cell into run.json, on the session it is given (or one made
    for the plan). `after`: what the command does once the cells are measured, by name and
    planned seconds, counted in the estimate and the time left."""

    def __init__(
        self,
        plan: Plan,
        folder: Path,
        quiet: bool = False,
        session: Session | None = None,
        after: tuple[tuple[str, float], ...] = (),
    ) -> None:
        self.plan, self.settings, self.folder = plan, plan.settings, folder
        self.estimate, self.after = estimate(plan), after
        self.session = session or Session.for_plan(plan, folder, quiet)
        session = self.session
        self.record = RunRecord(
            metadata=from_json(
                Metadata,
                metadata(
                    self.settings.as_dict(),
                    {
                        "server_cpus": sorted(session.server_cpus or []),
                        "generator_cpus": sorted(session.generator_cpus or []),
                        "generator_processes": session.generator.load_processes,
                        "generator_workers": {
                            "local": session.distribution.local,
                            "remote": session.distribution.remote,
                            "master": session.distribution.bind
                            if session.distribution.workers
                            else "",
                        },
                    },
                ),
            ),
            plan=from_json(PlanRecord, plan.as_dict()),
            status="running",
            leftovers_found=[],
            generator_ceiling={},
            machine_speed=MachineSpeed(steps=STEPS, probes=[]),
            cells=[],
        )

    # the whole run --------------------------------------------------------------------------

    def run(self) -> int:
        """Every cell of the plan; 0, or 130 when a signal stopped it (the cells done kept)."""
        code, say = 0, self.session.say
        self.session.reporter.unavailable(self.plan.resolved)  # named before anything runs
        try:
            with self.session.running():
                self.record.leftovers_found = stop_leftovers(self.folder.parent) + [
                    f"a server's cgroup: {found}" for found in sweep_leftovers()
                ]
                for line in self.record.leftovers_found:
                    say(f"[yellow]found and stopped a leftover of an earlier run:[/] {line}")
                for note in self.plan.notes:
                    say(f"[dim]{note}[/]")
                self.save()
                self.measure_all()
            self.record.status = "complete"
        except (KeyboardInterrupt, Interrupted):
            self.record.status = "interrupted"
            say("[yellow]interrupted: the cells completed so far are kept[/]")
            code = 130
        finally:
            self.save(new_cells=None)
        failed = sum(cell.status == "failed" for cell in self.record.cells)
        say(
            f"{len(self.record.cells)} cells, {failed} failed; stored in {self.folder / 'run.json'}"
        )
        return code

    def measure_all(self) -> None:
        """The generator's ceiling, then the cells, the machine's speed between rounds; the
        run's estimated length said before, the cells counted and the time left as they end."""
        cost, cells = self.estimate, self.plan.cells
        parts = cost.parts(self.after)
        with self.session.reporter.counting("the run", parts, len(cells), "cells") as counter:
            ceilings = self.settings.modes if self.settings.ceiling else ()
            counter.now("starting the load generator", cost.generator_s, steps=0)
            try:
                self.session.generator.start()
            except GeneratorError as exc:  # each cell tries again, and fails with the reason
                self.session.say(f"[red]the load generator did not start:[/] {exc}")
            for mode in ceilings:
                counter.now(f"generator ceiling ({mode})", cost.ceiling_s, steps=0)
                self.record.generator_ceiling[mode] = measure_ceiling(
                    self.session, self.settings, mode
                )
                self.save()
            self.measure_machine("before")
            for index, cell in enumerate(cells):
                if index and cell.repetition != cells[index - 1].repetition:
                    self.measure_machine(f"before round {cell.repetition}")
                counter.now(cell.key, cost.cells_s[index])  # done with its line (reporter.cell)
                self.run_one(cell)
            self.measure_machine("after")

    def save(self, new_cells: int | None = 1) -> None:
        """run.json as it stands; the schema checks the cell just added (every cell, at the
        end: new_cells=None)."""
        write_run(
            self.folder,
            to_json(self.record),
            min(new_cells, len(self.record.cells)) if new_cells is not None else None,
        )

    def measure_machine(self, when: str) -> None:
        """The machine's speed now, on the server's CPUs (bench/telemetry/machine.py)."""
        seconds = probe(self.session.server_cpus)
        assert self.record.machine_speed is not None
        self.record.machine_speed.probes.append(Probe(when=when, seconds=seconds))

    # one cell, on a server of its own ----------------------------------------------------------

    def run_one(self, cell: Cell) -> None:
        """Start a fresh server, check its answer, measure the cell, stop and reap the server,
        then record the cell with what the server said of itself (its accept failures)."""
        session = self.session
        spec = session.catalog.servers[cell.server]
        workload = session.catalog.workloads[cell.workload]
        cap = self.settings.request_cap if spec.leaking else None
        launch = spec.launch_options(workload, cap) if spec.kind != "remote" else {"command": []}
        command = launch["command"]
        record, server = None, None
        cpus = session.cpus_for(spec)
        check = answers(workload, cell.mode == "close")
        try:
            with (
                reached(self.settings.target, check)
                if spec.kind == "remote"
                else launched(
                    **launch,
                    cpus=cpus,
                    log_dir=self.folder,
                    registry=session.registry,
                    what=f"server {spec.name}",
                    timeout=self.settings.start_timeout_s,
                    check=check,
                )
            ) as server:
                record = measure(session, self.settings, cell, spec, server, command, cap, cpus)
        except VerifyError as exc:
            self.record_failure(
                cell, command, f"verification failed: {exc.reason}", str(exc)[-2000:]
            )
            return
        except LaunchError as exc:
            self.record_failure(cell, command, f"did not start: {exc.reason}", str(exc)[-2000:])
            return
        said = server.said if server is not None else ""
        if record is not None:
            record.server_reports = server_reports(said)
            record.server_output_tail = said[-2000:] if record.status == "failed" else ""
            left = sorted(getattr(server, "left_running", ()))
            record.left_running = left  # in its cgroup still, after the stop: said
            if left:
                session.say(
                    f"[red]{cell.key}: {len(left)} process(es) of its cgroup outlived "
                    f"the stop: {', '.join(map(str, left[:10]))}[/]"
                )
            self.record.cells.append(record)
            self.save()
            session.reporter.cell(record)

    def record_failure(self, cell: Cell, command: list[str], reason: str, output: str) -> None:
        record = CellRecord(
            **planned(cell),
            status="failed",
            reason=reason,
            command=command,
            request_cap=None,
            started=time.time(),
            load=None,
            generator_bound=False,
            generator_bound_cause="",
            generator_bound_reason="",
            window=None,
            service_demand=None,
            telemetry=None,
            leak=None,
            listen_overflows=None,
            server_output_tail=output,
            server_reports=server_reports(output),
            wrk=None,
            server_cpus=sorted(
                self.session.cpus_for(self.session.catalog.servers[cell.server]) or []
            ),
        )
        self.record.cells.append(record)
        self.save()
        self.session.reporter.cell(record)
