"""Exports of a run, pure functions of its run.json: cells.csv (one row per cell), ranking.csv
(the answer's tables), and on request one .hgrm per cell (HdrHistogram's percentile
distribution, in milliseconds, as HdrHistogram's own plotters read it)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hdrh.histogram import HdrHistogram

from bench.record import Percentiles, RunRecord
from bench.report.answer import answer, interval

CELL_FIELDS = (
    "key",
    "server",
    "workload",
    "users",
    "mode",
    "rate",
    "repetition",
    "status",
    "throughput",
    "requests",
    "failed",
    "window_s",
    "p50_us",
    "p90_us",
    "p99_us",
    "p99.9_us",
    "mean_us",
    "max_us",
    "generator_bound",
    "generator_cpu_share",
    "server_cpu_us_per_request",
    "server_cpu_error_us",
    "user_us_per_request",
    "system_us_per_request",
    "faults_per_request",
    "core_busy_us_per_request",
    "memory_peak_bytes",
    "cpu_accounting",
    "leak",
    "wrk_throughput",
)
RANKING_FIELDS = (
    "workload",
    "users",
    "mode",
    "place",
    "server",
    "runs",
    "median_throughput",
    "low",
    "high",
    "spread",
    "winner_times",
    "against",
    "server_cpu_us_per_request",
    "wrk_throughput",
)


def cell_rows(run: RunRecord) -> list[dict]:
    rows = []
    for cell in run.cells:
        load, demand = cell.load, cell.service_demand
        latency = load.latency_us if load else Percentiles()
        rows.append(
            {
                "key": cell.key,
                "server": cell.server,
                "workload": cell.workload,
                "users": cell.users,
                "mode": cell.mode,
                "rate": cell.rate or 0.0,
                "repetition": cell.repetition,
                "status": cell.status,
                "throughput": load.throughput if load else None,
                "requests": load.requests if load else None,
                "failed": sum(load.failures.values()) if load else None,
                "window_s": load.window_s if load else None,
                **{f"{name}_us": latency.at(name) for name in ("p50", "p90", "p99", "p99.9")},
                "mean_us": latency.mean,
                "max_us": latency.max,
                "generator_bound": cell.generator_bound,
                "generator_cpu_share": load.generator_cpu_share if load else None,
                "server_cpu_us_per_request": demand.us_per_request if demand else None,
                "server_cpu_error_us": demand.error_us_per_request if demand else None,
                "user_us_per_request": demand.user_us_per_request if demand else None,
                "system_us_per_request": demand.system_us_per_request if demand else None,
                "faults_per_request": demand.faults_per_request if demand else None,
                "core_busy_us_per_request": demand.core_us_per_request if demand else None,
                "memory_peak_bytes": cell.memory.peak_bytes if cell.memory else None,
                "cpu_accounting": cell.accounting.cpu if cell.accounting else None,
                "leak": cell.leak.verdict if cell.leak else None,
                "wrk_throughput": cell.wrk.throughput if cell.wrk else None,
            }
        )
    return rows


def ranking_rows(run: RunRecord) -> list[dict]:
    levels, _ = answer(run)
    rows = []
    for level in levels:
        for entry in level.entries:
            s = entry.summary
            rows.append(
                {
                    "workload": level.workload,
                    "users": level.users,
                    "mode": level.mode,
                    "place": entry.place,
                    "server": s.server,
                    "runs": s.n,
                    "median_throughput": s.throughput.median,
                    "low": s.throughput.low,
                    "high": s.throughput.high,
                    "spread": interval(s.throughput),
                    "winner_times": entry.times_winner,
                    "against": entry.versus,
                    "server_cpu_us_per_request": s.demand.median if s.demand.n else None,
                    "wrk_throughput": s.wrk.median if s.wrk.n else None,
                }
            )
    return rows


def csv_text(fields: tuple[str, ...], rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_exports(run: RunRecord, folder: Path, hgrm: bool = False) -> list[Path]:
    """cells.csv and ranking.csv into `folder` (and hgrm/<cell>.hgrm with `hgrm`)."""
    written = [folder / "cells.csv", folder / "ranking.csv"]
    written[0].write_text(csv_text(CELL_FIELDS, cell_rows(run)))
    written[1].write_text(csv_text(RANKING_FIELDS, ranking_rows(run)))
    if hgrm:
        (folder / "hgrm").mkdir(exist_ok=True)
        for cell in run.cells:
            if not cell.load or not cell.load.histogram:
                continue
            histogram = HdrHistogram.decode(cell.load.histogram.encode("ascii"))
            path = folder / "hgrm" / (cell.key.replace("/", "_").replace("@", "-") + ".hgrm")
            with path.open("wb") as out:
                histogram.output_percentile_distribution(out, 1000.0)  # µs recorded, ms shown
            written.append(path)
    return written
