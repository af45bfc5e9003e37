"""A session: what a run and every scenario share, built once and handed to them (as locust's
Environment is): the catalog, the CPUs of the servers and of the load generator, the registry
of the processes started, the load generator, the terminal, the results folder, and the
handling of SIGINT and SIGTERM."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.catalog import Catalog, ServerSpec
from bench.faults import interrupt_on_first_signal, restore_handlers
from bench.launch import cpu_plan, cpus_for, signals_deferred
from bench.load import Distribution, Generator
from bench.plan import Plan
from bench.run.console import Reporter
from bench.run.registry import Registry


class Session:
    """Built once per command: `running()` around its work, which leaves nothing behind."""

    def __init__(
        self,
        folder: Path,
        catalog: Catalog,
        *,
        cpu_split: bool = True,
        server_cpus: tuple[int, ...] = (),
        generator_cpus: tuple[int, ...] = (),
        generator_processes: int = 0,
        reserve: int = 1,
        distribution: Distribution | None = None,
        target: str = "",
        quiet: bool = False,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.catalog = folder, catalog
        self.reporter = Reporter(quiet)
        self.server_cpus, self.generator_cpus = cpu_plan(
            cpu_split, server_cpus, generator_cpus, reserve
        )
        self.named_cpus = bool(server_cpus)  # the user's: every server gets all of them
        if target and not server_cpus:  # no server here: every CPU loads it
            self.server_cpus = None
            self.generator_cpus = set(generator_cpus) or os.sched_getaffinity(0)
        self.processes = generator_processes or (
            len(self.generator_cpus) if self.generator_cpus else 1
        )
        self.registry = Registry(folder)  # a crashed command's servers are found by the next
        self.distribution = distribution or Distribution(0, 0, "127.0.0.1:0")
        self.generator = Generator(
            self.processes,
            self.generator_cpus,
            folder / "generator",
            self.registry,
            self.distribution,
            on_wait=lambda line: self.reporter.say(f"[yellow]{line}[/]"),
        )

    @classmethod
    def for_plan(cls, plan: Plan, folder: Path, quiet: bool = False) -> Session:
        """The session of a run: its settings say the CPUs and the generator's processes."""
        settings = plan.settings
        return cls(
            folder,
            plan.catalog,
            cpu_split=settings.cpu_split,
            server_cpus=settings.server_cpus,
            generator_cpus=settings.generator_cpus,
            generator_processes=settings.generator_processes,
            # the servers get as many CPUs as the most workers one of them has
            reserve=max((plan.catalog.servers[s].workers for s in settings.servers), default=1),
            distribution=Distribution(
                settings.generator_workers, settings.remote_workers, settings.master_bind
            ),
            target=settings.target,
            quiet=quiet,
        )

    def cpus_for(self, spec: ServerSpec) -> set[int] | None:
        """A server's CPUs: as many of the servers' CPUs as it has workers (all of them when the
        user named them)."""
        return cpus_for(self.server_cpus, spec.workers, named=self.named_cpus)

    def say(self, message: str) -> None:
        self.reporter.say(message)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The first SIGINT or SIGTERM raises Interrupted (a KeyboardInterrupt) so that every
        `finally` stops what it started; the harness's threads stay on the generator's CPUs.
        On every way out: the generator stopped, the handlers and affinity as they were, the
        registry gone (nothing of this session is left running)."""
        previous = interrupt_on_first_signal()
        unpin = pin_harness(self.generator_cpus if self.server_cpus else None)
        try:
            yield
        finally:
            try:
                with signals_deferred():  # a signal held back here is raised as it ends...
                    self.generator.close()
            finally:  # ...and the rest is put back all the same
                unpin()
                restore_handlers(previous)
                self.registry.path.unlink(missing_ok=True)


def pin_harness(cpus: set[int] | None) -> Callable[[], None]:
    """Pin every thread of this harness (its sampler's too) to `cpus`, the load generator's,
    so that watching a server takes none of the server's CPU; the way back, to call at the
    end. None: leave it where it is."""
    if not cpus:
        return lambda: None
    threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    before = {tid: os.sched_getaffinity(tid) for tid in threads}
    for tid in threads:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, cpus)

    def unpin() -> None:
        for tid, mask in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, mask)

    return unpin
