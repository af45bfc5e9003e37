"""The soak (bench/scenarios/soak.py): its slope verdict on series whose answer is known, then
the scenario itself for about a minute, our three keep-alive models 20 s each: every normal
request answered right, every hostile case as expected, and descriptors, threads and memory
flat."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from bench.catalog import WORKLOADS
from bench.launch import REPO_ROOT, ServerProcess, servers_command
from bench.run import REGISTRY
from bench.scenarios.soak import (
    BOUNDS,
    OURS,
    RATE_PER_USER,
    SoakSettings,
    fits,
    judge,
    parse_args,
    per_connection,
    soak_one,
    theil_sen,
)

# the slope verdict --------------------------------------------------------------------------


def times(count: int, every: float = 0.5) -> list[float]:
    return [index * every for index in range(count)]


def test_theil_sen_gives_the_slope_and_sens_interval_of_a_worked_example() -> None:
    # slopes between every two samples: 1, 0.5, 1, 0, 1, 2; median 1; Kendall's S has variance
    # (4*3*13 - 2*1*9) / 18 = 7.67 (two tied values), so 1.96 * 2.77 reaches both ends
    assert theil_sen([0, 1, 2, 3], [0, 1, 1, 3]) == (1.0, 0.0, 2.0)
    slope, low, high = theil_sen(times(40), [3 + 2 * t for t in times(40)])
    assert slope == low == high == pytest.approx(2.0)


def test_outliers_do_not_move_the_slope() -> None:
    """A GC pause, a connection caught mid-close: a few wild samples on a flat series."""
    t = times(60)
    values = [100.0] * 60
    for index in (5, 17, 41, 58):
        values[index] = 180.0
    slope, low, high = theil_sen(t, values)
    assert slope == 0.0 and low == 0.0 and high == 0.0
    assert judge(t, values, bound=1.0)["verdict"] == "flat"


def test_a_flat_noisy_series_passes_and_a_slowly_growing_one_fails() -> None:
    noise = random.Random(20261205)
    t = times(48, every=1 / 3)  # 16 s after the warm-up, as a 20 s soak samples it
    flat = [30.0 + noise.gauss(0, 0.15) for _ in t]  # memory, MiB: noise, no trend
    judged = judge(t, flat, BOUNDS["memory_mib"])
    assert judged["verdict"] == "flat", judged
    assert abs(judged["growth"]) < 0.3
    growing = [value + 0.2 * moment for value, moment in zip(flat, t, strict=True)]  # 3 MiB
    judged = judge(t, growing, BOUNDS["memory_mib"])
    assert judged["verdict"] == "grows", judged
    assert judged["growth"] == pytest.approx(0.2 * t[-1], rel=0.1)
    # 80 KiB a second: 1.25 MiB over the span, a quarter above the bound, within the noise
    slowly = [value + 0.08 * moment for value, moment in zip(flat, t, strict=True)]
    assert judge(t, slowly, BOUNDS["memory_mib"])["verdict"] in ("grows", "unsure")
    under = [value + 0.03 * moment for value, moment in zip(flat, t, strict=True)]  # 0.47 MiB
    assert judge(t, under, BOUNDS["memory_mib"])["verdict"] == "flat"
    assert judge(t[:5], flat[:5], 1.0)["verdict"] == "too few samples"


def test_sens_interval_holds_the_true_slope_about_95_times_in_100() -> None:
    noise = random.Random(1)
    t = times(48, every=1 / 3)
    held = 0
    for _ in range(300):
        _, low, high = theil_sen(t, [0.05 * moment + noise.gauss(0, 1) for moment in t])
        held += low <= 0.05 <= high
    assert 0.90 <= held / 300 <= 0.99


def samples(connections: list[int], leak_every: int = 0, threads_per: int = 0) -> list[dict]:
    """A server's samples: 20 descriptors and 1 thread of its own, plus one descriptor (and
    `threads_per` threads) per client connection, plus one descriptor more every `leak_every`
    samples (0: none)."""
    found = []
    for index, open_now in enumerate(connections):
        leaked = index // leak_every if leak_every else 0
        found.append(
            {
                "t": index * 0.5,
                "descriptors": 20 + open_now + leaked,
                "threads": 1 + threads_per * open_now,
                "connections": open_now,
                "anon_pss_bytes": 30 * 2**20,
            }
        )
    return found


def test_the_clients_connections_are_not_taken_for_growth_and_a_leak_is_found() -> None:
    coming_and_going = random.Random(7)
    connections = [coming_and_going.randint(4, 9) for _ in range(80)]
    calm = fits(samples(connections, threads_per=1), warmup_s=5.0)
    assert {name: fit["verdict"] for name, fit in calm.items()} == dict.fromkeys(BOUNDS, "flat")
    assert calm["threads"]["threads_per_connection"] == 1
    assert fits(samples(connections), 5.0)["threads"]["threads_per_connection"] == 0
    leaking = fits(samples(connections, leak_every=10), warmup_s=5.0)  # one every 5 s
    assert leaking["descriptors"]["verdict"] == "grows"
    assert leaking["descriptors"]["growth"] == pytest.approx(34.5 / 5, abs=1.0)  # 34.5 s kept
    assert per_connection([5, 6, 8, 8], [1, 2, 4, 4]) == 1 and per_connection([3, 3], [1, 1]) == 0


def test_bad_soak_options_are_one_line_errors(capsys) -> None:
    wrong = (["--duration", "1s"], ["--servers", "fork"], ["--duration", "1m", "--warmup", "50s"])
    for argv in wrong:
        with pytest.raises(SystemExit) as exited:
            parse_args(argv)
        assert exited.value.code == 2 and "error:" in capsys.readouterr().err
    settings, _ = parse_args(["--duration", "20s"])
    assert settings.servers == OURS and settings.warmup == 10.0  # half: less than 30 s
    assert parse_args(["--duration", "10m"])[0].warmup == 120.0  # a fifth
    assert settings.sample_s == pytest.approx(1 / 3)


# over sockets: a server that leaks, and one that does not ---------------------------------------

KEPT: list[bytes] = []  # in the leaking server's process (it imports this module for `leaky`)
OPENED: list = []


def leaky(environ: dict, start_response) -> list[bytes]:
    """The hello application, leaking 16 KiB of every request and a descriptor every 25."""
    KEPT.append(b"x" * 16384)
    if len(KEPT) % 25 == 0:
        OPENED.append(open(os.devnull, "rb"))  # noqa: SIM115 (never closed: the leak)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, world!"]


@pytest.mark.slow
def test_the_soak_finds_a_leak_over_sockets(tmp_path: Path) -> None:
    """A server leaking memory and descriptors per request grows in the soak's fits while all
    its answers are right; the threads it keeps stay flat."""
    settings = SoakSettings(duration_s=8.0, warmup_s=2.0, users=2, slow=1)
    command = servers_command("threaded", "tests.test_soak:leaky", "--header-timeout", "1")
    with ServerProcess(command, log_dir=tmp_path) as server:
        result = soak_one(server, WORKLOADS["hello"], settings)
    clients = result["clients"]
    assert clients["sent"] == clients["right"] >= 200, clients["failures"]
    judged = fits(result["samples"], settings.warmup)
    assert judged["descriptors"]["verdict"] == "grows", judged["descriptors"]
    assert judged["memory_mib"]["verdict"] == "grows", judged["memory_mib"]
    assert judged["threads"]["verdict"] == "flat", judged["threads"]
    requests_s = clients["right"] / settings.duration_s  # about 50 a second, probes included
    assert judged["memory_mib"]["slope_per_s"] == pytest.approx(requests_s / 64, rel=0.5)


# the scenario, for about a minute ------------------------------------------------------------


@pytest.mark.slow
def test_a_minute_of_soak_keeps_every_model_flat_and_every_request_right(tmp_path: Path) -> None:
    out = tmp_path / "soak"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "soak", "--duration", "20s", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    document = json.loads((out / "soak.json").read_text())
    said = {r["server"]: r.get("why") for r in document["results"]}
    assert done.returncode == 0 and document["passed"], (said, done.stdout[-3000:], done.stderr)
    assert [result["server"] for result in document["results"]] == list(OURS)
    for result in document["results"]:
        clients = result["clients"]
        assert clients["failures"] == {} and clients["right"] == clients["sent"]
        # paced at 25 a second: at least half of it on a shared machine, and no more than it
        assert 0.5 * 4 * RATE_PER_USER * 20 <= clients["sent"] <= 4 * RATE_PER_USER * 20 + 40
        assert clients["probes"] >= 20 and clients["probes_as_expected"] == clients["probes"]
        assert clients["slow_fates"].get("HTTP 408", 0) >= 4  # each cut by the header timeout
        assert {name: fit["verdict"] for name, fit in result["fits"].items()} == dict.fromkeys(
            BOUNDS, "flat"
        )
        assert all(fit["samples"] >= 25 for fit in result["fits"].values())  # 3 a second, 10 s
        assert not math.isnan(result["fits"]["memory_mib"]["slope_per_s"])
    assert "passed" in done.stdout and not (out / REGISTRY).exists()
