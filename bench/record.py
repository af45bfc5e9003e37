"""run.json, typed: the record of a run as dataclasses, read and written by the store.

As pyperf wraps its JSON in `Run` and `Benchmark`, the harness's run.json is wrapped here: the
report, the statistics, the checks and `compare` read attributes, never string keys, so that a
renamed field fails where it is read by a type checker, not in a chart at run time. Each class
is one object of bench/run.schema.json, field for field (tests/test_record.py keeps the two
in step): a field without a default is a required property; a field with one may be absent from
the file, and is left out when it is None. Maps whose keys are data (failures by kind, the
kernel's counters by name, servers' versions) stay dicts.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, Union

from bench.plan import Cell as PlannedCell
from bench.plan import Settings

T = TypeVar("T")


def json_name(name: str) -> dict:
    """A field whose JSON property is not a Python name (p99.9)."""
    return {"json": name}


# the parts of a cell ---------------------------------------------------------------------------


@dataclass(kw_only=True)
class Percentiles:
    """Latency percentiles in µs, from the generator's own histogram (None: no answer there)."""

    p50: float | None = None
    p75: float | None = None
    p90: float | None = None
    p99: float | None = None
    p99_9: float | None = field(default=None, metadata=json_name("p99.9"))
    p99_99: float | None = field(default=None, metadata=json_name("p99.99"))
    mean: float | None = None
    max: float | None = None

    def at(self, label: str) -> float | None:
        """The percentile named as in a report's columns ("p50", "p99.9")."""
        return getattr(self, label.replace(".", "_"))


@dataclass(kw_only=True)
class Load:
    """What the load generator measured in the window (locust's own figures)."""

    requests: int
    failures: dict[str, int]
    window_s: float
    throughput: float
    latency_us: Percentiles
    histogram: str
    generator_cpu_s: float
    generator_cpu_share: float
    processes: int
    error: str
    client: Literal["raw", "fasthttp"]
    started: float
    window: list[float]
    generator_cpus_busy: float
    sent: int
    offered_rate: float | None = None
    service_latency_us: Percentiles | None = None
    service_histogram: str | None = None
    late: int | None = None
    max_lag_s: float | None = None
    answered_in_window: int | None = None
    due: int | None = None
    censored: int | None = None
    censored_above_us: float | None = None
    send_lag_us: Percentiles | None = None

    @property
    def timed(self) -> bool:
        """Whether the generator timed any request: it gives no latencies when none was
        answered nor due (an open loop's unanswered requests are percentiles of their own)."""
        return bool(self.due) or any(
            getattr(self.latency_us, name) is not None
            for name in ("p50", "p90", "p99", "mean", "max")
        )


@dataclass(kw_only=True)
class Series:
    """The server's process tree sampled over the cell, on the telemetry clock."""

    t: list[float]
    parent_fds: list[float]
    tree_fds: list[float]
    children: list[float]
    zombies: list[float]
    threads: list[float]
    rss_bytes: list[float]
    cpu_s: list[float]
    core_busy_s: list[float] | None = None
    user_s: list[float] | None = None
    system_s: list[float] | None = None
    memory_bytes: list[float] | None = None
    faults: list[float] | None = None
    core_interrupt_s: list[float] | None = None


@dataclass(kw_only=True)
class Telemetry:
    interval_s: float
    series: Series


@dataclass(kw_only=True)
class Rest:
    """How the server came to rest after the load (bench.telemetry.Rest)."""

    state: Literal["idle", "stalled", "busy"] | None = None
    waited_s: float | None = None
    open_connections: int | None = None
    queued: int | None = None
    held: int | None = None
    live_children: int | None = None


@dataclass(kw_only=True)
class Leak:
    """Descriptors, zombies and children before the load and at rest after it."""

    verdict: Literal["clean", "leaks", "still busy", "unknown"]
    reason: str | None = None  # why "unknown"
    rest: Rest | None = None
    parent_fds_before: int | None = None
    parent_fds_after: int | None = None
    zombies_before: int | None = None
    zombies_after: int | None = None
    children_before: int | None = None
    children_after: int | None = None
    fds_left: int | None = None
    zombies_left: int | None = None
    children_left: int | None = None
    peak_zombies: int | None = None
    peak_parent_fds: int | None = None


@dataclass(kw_only=True)
class Window:
    """The cell's moments on the telemetry clock (seconds from `origin`)."""

    origin: float
    load_start: float
    start: float
    end: float
    load_end: float


@dataclass(kw_only=True)
class ServiceDemand:
    """The server's CPU per request in the window, with the error of each figure."""

    cpu_s: float
    requests: int
    us_per_request: float
    error_us_per_request: float | None
    core_us_per_request: float | None = None
    user_us_per_request: float | None = None
    system_us_per_request: float | None = None
    split_error_us_per_request: float | None = None
    faults_per_request: float | None = None
    core_error_us_per_request: float | None = None
    core_interrupt_us_per_request: float | None = None


@dataclass(kw_only=True)
class ServerReports:
    """What the server said of itself when it stopped (its own counts)."""

    accept_failures: int | None = None
    accept_failures_by_errno: dict[str, int] | None = None
    most_in_progress: int | None = None


@dataclass(kw_only=True)
class Accounting:
    """How the server's CPU, memory and faults were counted (bench.telemetry.accounting)."""

    cpu: str
    cpu_resolution_us: float
    split_resolution_us: float
    memory: str
    faults: str
    group: str
    why_not_cgroup: str
    split: bool | None = None


@dataclass(kw_only=True)
class Memory:
    method: str
    peak_bytes: int
    peak_per_user_bytes: int
    summed_rss_peak_bytes: int
    peak_is: str | None = None


@dataclass(kw_only=True)
class Saturation:
    """Whose CPU ran out in the window: the server's, the generator's, both or neither."""

    server_cpus_busy: float | None
    server_cpu_share: float | None
    ran_out: Literal["server", "generator", "both", "neither"]


@dataclass(kw_only=True)
class HarnessUse:
    """The harness's own CPUs and CPU time over the window."""

    cpus: list[int] | None = None
    cpu_s: float | None = None


@dataclass(kw_only=True)
class Wrk:
    """wrk on the same server and load (bench.wrk)."""

    tool: str
    version: str
    connections: int
    threads: int
    close: bool
    duration_s: float
    requests: int
    throughput: float
    latency_us: Percentiles
    failures: dict[str, int]
    error: str


@dataclass(kw_only=True)
class CellRecord:
    """One measured cell: what ran, what the generator measured, what the server did."""

    server: str
    workload: str
    users: int
    mode: Literal["keepalive", "close"]
    repetition: int
    key: str
    status: Literal["ok", "failed"]
    reason: str
    command: list[str]
    request_cap: int | None
    started: float
    load: Load | None
    generator_bound: bool
    generator_bound_cause: Literal["", "locust", "contended"]
    generator_bound_reason: str
    telemetry: Telemetry | None
    leak: Leak | None
    listen_overflows: dict[str, int] | None
    server_output_tail: str
    window: Window | None
    service_demand: ServiceDemand | None
    server_reports: ServerReports
    wrk: Wrk | None
    rate: float | None = None
    server_cpus: list[int] | None = None
    accounting: Accounting | None = None
    memory: Memory | None = None
    saturation: Saturation | None = None
    harness: HarnessUse | None = None
    left_running: list[int] | None = None

    @property
    def ok(self) -> bool:
        """Ran to its end with the generator's figures."""
        return self.status == "ok" and self.load is not None

    def option(self, flag: str, default: float = 0.0) -> float:
        """A numeric option its server ran with (--sleep 0.02, --workers 2), from its command."""
        for name, value in itertools.pairwise(self.command):
            if name == flag:
                return float(value)
        return default

    @property
    def open_loop(self) -> bool:
        return bool(self.rate)


# the run ---------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class GeneratorWorkers:
    local: int | None = None
    remote: int | None = None
    master: str | None = None


@dataclass(kw_only=True)
class Affinity:
    server_cpus: list[int]
    generator_cpus: list[int]
    generator_processes: int
    generator_workers: GeneratorWorkers | None = None


@dataclass(kw_only=True)
class Metadata:
    """Where, when and with what the run was made (bench.store.metadata)."""

    schema_version: int
    started: str
    commit: str
    dirty: bool
    python: str
    packages: dict[str, str | None]
    cpu_model: str
    cpu_count: int | None
    kernel: str
    machine: str
    affinity: Affinity
    load_average: list[float]
    cpu_governor: str | None
    memory_bytes: int
    command_line: list[str]
    settings: Settings
    environment: dict[str, str]


@dataclass(kw_only=True)
class Skipped:
    server: str
    workload: str
    reason: str


@dataclass(kw_only=True)
class PlanRecord:
    settings: Settings
    cells: list[PlannedCell]
    skipped: list[Skipped]
    notes: list[str]


@dataclass(kw_only=True)
class Ceiling:
    """The generator's own ceiling: its throughput against our fastest server, per mode."""

    server: str
    workload: str
    users: int
    client: str
    throughput: float
    generator_cpu_share: float
    processes: int
    error: str
    generator_cpus_busy: float | None = None


@dataclass(kw_only=True)
class Probe:
    when: str
    seconds: float


@dataclass(kw_only=True)
class MachineSpeed:
    """A fixed CPU-bound workload timed before, between rounds and after: the machine's pace."""

    steps: int
    probes: list[Probe]


@dataclass(kw_only=True)
class RunRecord:
    """A whole run.json."""

    metadata: Metadata
    plan: PlanRecord
    status: Literal["running", "complete", "interrupted"]
    leftovers_found: list[str]
    generator_ceiling: dict[str, Ceiling]
    cells: list[CellRecord]
    machine_speed: MachineSpeed | None = None

    @property
    def settings(self) -> Settings:
        return self.metadata.settings


# reading and writing ---------------------------------------------------------------------------


class RecordError(ValueError):
    """A document that does not fit the record; the message says where."""


@functools.cache
def _fields(cls: Any) -> tuple[tuple[str, str, Any, bool], ...]:
    """Per field: its name, its JSON name, its type, and whether it is required."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (
            f.name,
            f.metadata.get("json", f.name),
            hints[f.name],
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    )


def from_json(cls: type[T], data: Any, where: str = "") -> T:
    """`data` (parsed JSON) as an instance of the dataclass `cls`; RecordError names the place
    that does not fit."""
    if not isinstance(data, dict):
        raise RecordError(f"at {where or 'the top'}: expected an object")
    values = {}
    for name, key, kind, required in _fields(typing.cast(Any, cls)):
        if key in data:
            values[name] = _value(kind, data[key], f"{where}/{key}")
        elif required:
            raise RecordError(f"at {where or 'the top'}: {key} is missing")
    return cls(**values)


def _value(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None:
            if len(options) < len(typing.get_args(kind)):
                return None
            raise RecordError(f"at {where}: null")
        if len(options) == 1:
            return _value(options[0], value, where)
        return value  # a union of plain types (str | None...), taken as it is
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return from_json(kind, value, where)
    if origin is list:
        (item,) = typing.get_args(kind)
        return [_value(item, v, f"{where}/{i}") for i, v in enumerate(_listed(value, where))]
    if origin is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_value(item, v, f"{where}/{i}") for i, v in enumerate(_listed(value, where)))
    if origin is dict:
        _, item = typing.get_args(kind)
        if not isinstance(value, dict):
            raise RecordError(f"at {where}: expected an object")
        return {k: _value(item, v, f"{where}/{k}") for k, v in value.items()}
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value  # int, str, bool, Literal, Any: as JSON gave it


def _listed(value: Any, where: str) -> list:
    if not isinstance(value, list | tuple):
        raise RecordError(f"at {where}: expected a list")
    return list(value)


def to_json(value: Any) -> Any:
    """A record (or any part of one) as JSON-ready values: a field that may be absent is left
    out when it is None (the plan's own dataclasses, Settings and Cell, are written whole)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        whole = type(value).__module__ != __name__
        for name, key, _, required in _fields(type(value)):
            item = getattr(value, name)
            if item is None and not required and not whole:
                continue
            out[key] = to_json(item)
        return out
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def read(document: dict) -> RunRecord:
    """A run.json already checked against the schema, as a record."""
    return from_json(RunRecord, document)
