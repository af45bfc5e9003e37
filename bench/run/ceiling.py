"""The load generator's ceiling: what it delivers here against the fastest server, per
connection mode. Context, not a verdict: whether a cell measured the generator is told from the
generator's own CPU during that cell's window (bench/load.py)."""

from __future__ import annotations

from bench.launch import launched
from bench.load import CellLoad
from bench.plan import Settings
from bench.record import Ceiling
from bench.run.session import Session

SERVER, WORKLOAD = "asyncio", "hello"


def measure_ceiling(session: Session, settings: Settings, mode: str) -> Ceiling:
    """The generator against asyncio on hello, at the run's most users (16 at least)."""
    spec, workload = session.catalog.servers[SERVER], session.catalog.workloads[WORKLOAD]
    users = max(max(settings.users), 16)
    with launched(
        **spec.launch_options(workload),
        cpus=session.cpus_for(spec),
        log_dir=session.folder,
        registry=session.registry,
        what="ceiling server",
    ) as server:
        load = session.generator.run(
            CellLoad(
                server.url,
                workload.path,
                users,
                settings.warmup_s,
                settings.duration_s,
                close=mode == "close",
                timeout_s=settings.request_timeout_s,
                body=workload.body,
                client=settings.client,
            ),
            grace_s=settings.generator_grace_s,
        )
    processes = session.generator.load_processes
    session.say(
        f"generator ceiling ({mode}): {load.throughput:,.0f} req/s against {spec.name} "
        f"({users} users, {processes} generator process(es), "
        f"{settings.client} client, locust at {load.generator_cpu_share:.0%} of its CPU)"
    )
    return Ceiling(
        server=spec.name,
        workload=workload.name,
        users=users,
        client=settings.client,
        throughput=load.throughput,
        generator_cpu_share=load.generator_cpu_share,
        generator_cpus_busy=load.generator_cpus_busy,
        processes=processes,
        error=load.error,
    )
