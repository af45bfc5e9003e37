"""What the microsecond capture costs the load generator: locust's own request count for a plain
FastHttpUser against ours (bench/locustfile.py, an HdrHistogram record per request), against
the same server, alternated for several rounds.

    python -m bench.overhead [--rounds 3] [--duration 5] [--users 16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.launch import REPO_ROOT, ServerProcess, cpu_plan, servers_command
from bench.load import locust_command

VARIANTS = {"plain": "locustfile_plain.py", "capture": "locustfile.py"}


def locust_throughput(
    locustfile: str, url: str, users: int, seconds: int, cpus: set[int] | None
) -> float:
    """Requests per second as locust itself counts them (the same measure for both)."""
    with tempfile.TemporaryDirectory() as out:
        env = {
            **os.environ,
            "BENCH_PATH": "/hello/",
            "BENCH_OUT": out,
            "BENCH_DURATION_S": str(seconds + 5),
        }
        done = subprocess.run(
            locust_command(Path(__file__).with_name(locustfile), url, users, seconds, "--json"),
            capture_output=True,
            text=True,
            env=env,
            timeout=seconds + 60,
            cwd=REPO_ROOT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
    stats = json.loads(done.stdout)
    return sum(entry["num_requests"] for entry in stats) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 20 and 1 <= args.duration <= 120 and 1 <= args.users <= 1000):
        parser.error("wants 1 <= --rounds <= 20, 1 <= --duration <= 120, 1 <= --users <= 1000")
    server_cpus, generator_cpus = cpu_plan(True)
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    command = servers_command("asyncio", "helloworld.plain:app", "--loop", "uvloop")
    with ServerProcess(command, cpus=server_cpus) as server:
        for round_number in range(1, args.rounds + 1):
            for name, locustfile in VARIANTS.items():
                rate = locust_throughput(
                    locustfile, server.url, args.users, args.duration, generator_cpus
                )
                results[name].append(rate)
                print(f"round {round_number}: {name:8s} {rate:8,.0f} req/s", file=sys.stderr)
    plain, capture = (statistics.median(results[name]) for name in VARIANTS)
    ratio = capture / plain
    summary = {
        "plain_rps": plain,
        "capture_rps": capture,
        "ratio": ratio,
        "cost_percent": (1 - ratio) * 100,
        "runs": results,
        "users": args.users,
        "duration_s": args.duration,
        "server": "asyncio --loop uvloop, plain hello",
    }
    out = args.out or REPO_ROOT / "results" / time.strftime("overhead-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    (out / "overhead.json").write_text(json.dumps(summary, indent=2))
    print(
        f"plain locust {plain:,.0f} req/s, with µs capture {capture:,.0f} req/s: "
        f"ratio {ratio:.3f} (the capture costs {summary['cost_percent']:.1f} %); "
        f"stored in {out / 'overhead.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
