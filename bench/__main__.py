"""`python -m bench COMMAND [options]` (installed: `webmodels-bench COMMAND`): the benchmark and
its tools, one vocabulary of flags (bench/options.py) for all of them.

    run          the benchmark: results/<run-id>/run.json, report.html, the answer printed
    report       redraw what a results folder holds, without measuring again
    compare      did it get faster? two runs, server by server, with the tests' verdicts
    micro        the pytest-benchmark micro-benchmarks
    options      every subcommand's options (docs/options.md is its output)
    capacity, scale, slowclients, crosscheck, ceiling, hostile, overhead, conformance, soak: the
                 side scenarios
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bench import options
from bench.catalog import (
    APP_WORKLOAD,
    TARGET,
    Catalog,
    CatalogError,
    ServerSpec,
    definition,
    parse_add_server,
    read_servers_file,
    target_url,
)
from bench.plan import PROFILES, PlanError, Settings, build_plan
from bench.store import StoreError, results_dir, results_root

# The side scenarios: each module's main(argv) parses its own options (the same vocabulary).
SCENARIOS = {
    "capacity": (
        "bench.scenarios.capacity",
        "a rate sweep per server, open loop: the highest offered rate within a p99 and an "
        "error limit",
    ),
    "scale": (
        "bench.scenarios.scale",
        "C10K: the idle connections each model holds, and their cost",
    ),
    "slowclients": (
        "bench.scenarios.slowclients",
        "normal users' throughput without and with clients that send a byte at a time",
    ),
    "crosscheck": ("bench.scenarios.crosscheck", "locust and wrk on the same cells"),
    "ceiling": (
        "bench.scenarios.ceiling",
        "our fastest models against uvicorn, gunicorn and waitress, under wrk",
    ),
    "hostile": (
        "bench.scenarios.hostile",
        "hostile requests against our models and the peers: a markdown table",
    ),
    "overhead": (
        "bench.scenarios.overhead",
        "what the load generator's clients cost: ours against locust's FastHttpUser",
    ),
    "soak": (
        "bench.scenarios.soak",
        "normal load, hostile requests and slow clients for a while: descriptors, threads and "
        "memory must stay flat, every request succeed",
    ),
    "lesson": (
        "bench.lessons.cli",
        "a guided lesson: one model under the load that shows it, its counts live, the verdict "
        "and the code that causes it (lesson --list)",
    ),
    "conformance": (
        "bench.scenarios.conformance",
        "the RFC 9110/9112 conformance corpus over sockets: our models beside the peers",
    ),
}


# The subcommands this module parses (the others parse their own, from the same table of options).
OWN = {
    "run": options.Command(
        "run", description="Run a plan: a profile, changed by the options given."
    ),
    "micro": options.Command("micro"),
    "compare": options.Command("compare"),
    "worker": options.Command(
        "worker",
        description="A locust worker: connects to a run's master and sends the load it is told "
        "to, to the address the run names.",
    ),
    "options": options.Command("options"),
}
SUMMARIES = {  # each subcommand in `python -m bench --help`, in this order
    "run": "run the benchmark (python -m bench run --help)",
    "micro": "the pytest-benchmark micro-benchmarks into a folder (micro.json)",
    "report": "redraw the charts and report of a results folder (python -m bench report --help)",
    "compare": "did it get faster? two runs, server by server (exit 1 on a contradiction)",
    "worker": "a load generator for a run on another machine (its --remote-workers)",
    "options": "every subcommand's options, their defaults and meanings: docs/options.md",
    **{name: summary for name, (_, summary) in SCENARIOS.items()},
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Load every server with the same locust workload, watch its process tree, "
        "store the figures in results/<run-id>/run.json, and say which model wins, by how much "
        "and why.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in SUMMARIES.items():
        if name in OWN:
            OWN[name].add_to(
                commands.add_parser(name, help=summary, description=OWN[name].description)
            )
        else:  # it parses its own options: report, the scenarios
            commands.add_parser(name, help=summary, add_help=False)
    return parser


def options_markdown() -> str:
    """docs/options.md: every subcommand's options, from the one table (bench/options.py)."""
    from bench.report import COMMAND as report
    from bench.scenarios.holder import COMMAND as holder

    found = OWN | {"report": report, "holder": holder}
    found |= {
        name: importlib.import_module(module).COMMAND for name, (module, _) in SCENARIOS.items()
    }
    summaries = SUMMARIES | {"holder": "the client side of scale, in a process of its own"}
    return options.markdown((found[name], summary) for name, summary in summaries.items())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SCENARIOS:  # each scenario parses its own options
        return importlib.import_module(SCENARIOS[argv[0]][0]).main(argv[1:])
    if argv and argv[0] == "report":
        from bench.report import main as report_main

        return report_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "micro":
        return micro_command(args.out)
    if args.command == "worker":  # a process of its own: gevent patches it from the start
        import os

        command = [sys.executable, "-m", "bench.generator", "--worker", args.master]
        os.execv(sys.executable, command)
    if args.command == "compare":
        from bench.compare import main as compare_main

        return compare_main([str(args.first), str(args.second)])
    if args.command == "options":
        print(options_markdown(), end="")
        return 0
    if args.command != "run":
        parser.print_help()
        return 0 if args.command is None and argv == [] else 2
    settings = PROFILES[args.profile]  # named in the metadata as settings.profile
    try:
        added = [parse_add_server(text) for text in args.add_server]
        if args.servers_file is not None:
            added += read_servers_file(args.servers_file)
        options.check_option_combinations(args, [spec.name for spec in added])
        settings = with_yours(settings, args, added)
    except (CatalogError, options.OptionError) as exc:
        parser.exit(2, f"python -m bench: error: {exc}\n")
    chosen = options.given(args)  # then the options given, over the profile
    settings = fit_profile(replace(settings, **chosen), explicit=set(chosen))
    try:
        plan = build_plan(settings)
        folder = results_dir("run", args.out)
    except (PlanError, StoreError) as exc:
        parser.exit(2, f"python -m bench: error: {exc}\n")
    if not plan.cells:
        parser.exit(2, "python -m bench: error: the plan has no cell to run\n")
    from bench.launch import CpuPlanError
    from bench.run import Runner  # imports rich and psutil only when there is work
    from bench.scenarios.steps import after_cells  # what the estimate plans after the cells

    try:
        after = after_cells(plan, micro=not args.no_micro)
        runner = Runner(plan, folder, quiet=args.quiet, after=after)
    except CpuPlanError as exc:
        parser.exit(2, f"python -m bench: error: {exc}\n")
    print(f"{len(plan.cells)} cells ({args.profile} profile) into {folder}", file=sys.stderr)
    try:
        code = runner.run()
        if code == 0 and settings.profile in ("default", "full") and not args.no_micro:
            run_micro(folder)
        if code == 0 and settings.scenarios:
            run_scenario_steps(folder, settings, plan.catalog)
        from bench.report import draw

        try:
            print(f"report: {draw(folder)}")
            show_answer(folder)
        except Exception as exc:  # the measurements are safe in run.json whatever happens here
            print(
                f"python -m bench: the report could not be drawn ({type(exc).__name__}: {exc}); "
                f"run.json is kept: python -m bench report {folder}",
                file=sys.stderr,
            )
    except KeyboardInterrupt:  # after the cells (their own Ctrl-C is the Runner's): no traceback
        print(f"python -m bench: interrupted; run.json is kept in {folder}", file=sys.stderr)
        return 130
    return code


def with_yours(settings: Settings, args: argparse.Namespace, added: list[ServerSpec]) -> Settings:
    """The profile with the user's servers and application added: the added servers join the
    profile's servers (unless --servers names the run's), the application its workloads (unless
    --workloads does). The options have passed check_option_combinations."""
    if added:
        settings = replace(
            settings,
            added_servers=tuple(definition(spec) for spec in added),
            servers=(*settings.servers, *(spec.name for spec in added)),
        )
    if args.target:
        settings = replace(settings, target=target_url(args.target), servers=(TARGET,))
        if args.remote_workers:  # the ceiling's server is on this machine's loopback
            settings = replace(settings, ceiling=False)
    if args.app or (args.target and options.changed(args, "path", "expect_status", "expect_body")):
        interface = args.interface
        if interface == "auto":
            interface = detect_interface(args.app) if args.app else "wsgi"
        settings = replace(
            settings,
            app={
                "app": args.app or "",
                "interface": interface,
                "path": args.path,
                "status": args.expect_status,
                "body": args.expect_body,
                "cwd": str(Path.cwd()),
            },
            workloads=(APP_WORKLOAD,),
        )
    return settings


def detect_interface(app: str) -> str:
    """WSGI or ASGI, as our servers decide it, told by a Python of its own (the user's module
    is not imported into the harness)."""
    import subprocess

    try:
        done = subprocess.run(
            [sys.executable, "-m", "servers.loader", app],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CatalogError(f"--app {app}: importing it took more than 120 s") from None
    if done.returncode != 0:
        said = done.stderr.strip().splitlines() or ["it exited with " + str(done.returncode)]
        raise CatalogError(f"--app {app}: {said[-1]}")
    return done.stdout.strip()


def show_answer(folder: Path) -> None:
    """The run's answer, as tables on the terminal (the report's first section)."""
    from rich.console import Console

    from bench.report.answer import print_answer
    from bench.store import load_run

    print_answer(load_run(folder), Console())


def fit_profile(settings: Settings, explicit: set[str]) -> Settings:
    """Keep a profile's open-loop and repeated cells meaningful when --workloads or --users
    change the plan: the profile's repeated cells move to the highest concurrency given, and
    its open-loop workloads shrink to those still planned (no open-loop cell if none is)."""
    if "repeat_only" not in explicit and settings.repeat_only:
        top = max(settings.users)
        kept = {f"{entry.split('@')[0]}@{top}" for entry in settings.repeat_only}
        kept.add(f"{APP_WORKLOAD}@{top}")  # a user's application repeats like the ranked cells
        fitted = tuple(sorted(e for e in kept if e.split("@")[0] in settings.workloads))
        if fitted or "repeat" in explicit:  # --repeat alone then repeats every cell
            settings = replace(settings, repeat_only=fitted)
        else:  # none of the profile's repeated cells is planned: nothing repeats
            settings = replace(settings, repeat_only=(), repeat=1)
    if "open_workloads" not in explicit and settings.open_workloads:
        kept_workloads = tuple(w for w in settings.open_workloads if w in settings.workloads)
        settings = replace(settings, open_workloads=kept_workloads)
        if not kept_workloads and "open_rate" not in explicit:
            settings = replace(settings, open_rate=0.0)
    return settings


def run_scenario_steps(folder: Path, settings: Settings, catalog: Catalog) -> None:
    """The capacity sweep, C10K and slow clients for the run's servers (and its first workload,
    for the sweep), each into a folder of the run's, then the conformance corpus over sockets
    into the run's own folder (its table joins report.html); a failure of one is said and the
    next still runs (run.json is complete already)."""
    from dataclasses import replace as changed

    from bench.scenarios import conformance, scale, slowclients
    from bench.scenarios.capacity import run_capacity
    from bench.scenarios.steps import QUICK_SCALE, QUICK_SLOW, run_scenarios

    quick = settings.profile == "quick"
    rows = [catalog.servers[name] for name in settings.servers]
    swept = [spec.name for spec in rows if not spec.leaking and spec.kind != "remote"]
    models = tuple(dict.fromkeys(spec.model for spec in rows if spec.model))
    scale_settings = changed(QUICK_SCALE if quick else scale.ScaleSettings(), models=models)
    slow_settings = changed(QUICK_SLOW if quick else slowclients.SlowSettings(), models=models)
    steps: list[tuple[str, Callable[[], object]] | None] = [
        ("capacity", lambda: run_capacity(folder / "capacity", swept, quick, settings.workloads[0]))
        if swept
        else None,
        (
            "scenarios",
            lambda: run_scenarios(
                folder / "scenarios", scale_settings=scale_settings, slow_settings=slow_settings
            ),
        )
        if models
        else None,
    ]
    checked = [name for name in settings.servers if name in conformance.OURS + conformance.PEERS]
    if checked and not quick:  # the corpus over sockets: report.html shows its table
        argv = ["--out", str(folder), "--servers", ",".join(checked)]
        steps.append(("conformance", lambda: conformance.main(argv)))
    for name, step in filter(None, steps):
        print(f"{name} ...", file=sys.stderr)
        try:
            step()
        except Exception as exc:  # the cells' figures are safe in run.json whatever happens here
            print(f"python -m bench: {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def run_micro(folder: Path, timeout_s: float = 600) -> bool:
    """The pytest-benchmark micro-benchmarks, into the run's folder as micro.json.

    pytest runs in its own process group. A Ctrl-C or SIGTERM here is passed on to it as
    SIGINT, so that its fixtures stop the servers they started (killing it at once would leave
    them running); what is left after 20 s is killed."""
    import os
    import signal
    import subprocess

    from bench.faults import interrupt_on_first_signal, restore_handlers
    from bench.launch import kill_group, spawn_group

    print("micro-benchmarks (pytest-benchmark) ...", file=sys.stderr)
    handlers = interrupt_on_first_signal()
    pytest = spawn_group(
        [
            sys.executable,
            "-m",
            "pytest",
            str(Path(__file__).resolve().parent / "micro"),  # also where it is installed
            "-q",
            "-p",
            "no:cacheprovider",
            "--benchmark-enable",
            "--benchmark-max-time=0.5",
            "--benchmark-min-rounds=20",
            f"--benchmark-json={(folder / 'micro.json').resolve()}",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = ""
    try:
        output, _ = pytest.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        output = f"did not finish within {timeout_s:g} s"
    except KeyboardInterrupt:
        os.killpg(pytest.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            pytest.communicate(timeout=20)
        raise
    finally:
        kill_group(pytest)
        restore_handlers(handlers)
    if pytest.returncode != 0:
        tail = " | ".join(output.strip().splitlines()[-3:])
        print(f"python -m bench: the micro-benchmarks failed: {tail}", file=sys.stderr)
    return pytest.returncode == 0


def micro_command(out: Path | None) -> int:
    """`python -m bench micro`: measure, summarise, and compare with the previous micro run."""
    from bench.micro.summary import main as summary

    previous = sorted(results_root().glob("micro-*/micro.json"))
    try:
        folder = results_dir("micro", out)
    except StoreError as exc:
        print(f"python -m bench: error: {exc}", file=sys.stderr)
        return 2
    try:
        if not run_micro(folder):
            return 1
    except KeyboardInterrupt:
        print("python -m bench: interrupted", file=sys.stderr)
        return 130
    compare = ["--previous", str(previous[-1])] if previous else []
    return summary([str(folder / "micro.json"), *compare])


if __name__ == "__main__":
    sys.exit(main())
