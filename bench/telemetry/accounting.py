"""Accounting: the kernel's own count of what a server's whole tree costs.

Each server gets a cgroup of its own wherever the harness may make one (as root, or inside a
delegated cgroup such as `systemd-run --user --scope -p Delegate=yes`): every process it starts
joins it, reaped children and daemons that left the process group included. The kernel charges
the group's CPU to the microsecond (cgroup v2 `cpu.stat`) or the nanosecond (v1 `cpuacct`), its
memory once however many processes share a page (`memory.current`/`memory.peak`, v1
`memory.usage_in_bytes`/`max_usage_in_bytes`), and its page faults (`memory.stat`). Stopping
the server is `cgroup.kill` (or SIGKILL to every pid in `cgroup.procs`) until the group is empty.

Where no cgroup can be had (or WEBMODELS_ACCOUNTING=proc asks for this), the tree is counted
from /proc instead, and each figure says so: each process's CPU clock (ns, a zombie's too,
exited threads included) plus the CPU of the children its processes reaped (cutime and cstime,
in clock ticks), the sum of PSS for memory, minflt plus cminflt for faults.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

FORCE = "WEBMODELS_ACCOUNTING"  # "proc": count from /proc even where a cgroup could be made
PREFIX = "webmodels-"  # a group's name: webmodels-<harness pid>.<its start time>-<n>
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")


def kernel_tick_us() -> float:
    """The scheduler's tick (CONFIG_HZ), which sets the resolution of any user/system split:
    the kernel tells them apart by sampling at its ticks (full dynticks accounting applies only
    to nohz_full CPUs, so it is not counted on). Where its configuration is not readable, the
    coarsest tick Linux has (100 Hz, 10 ms)."""
    import gzip

    for path in (Path("/proc/config.gz"), Path(f"/boot/config-{os.uname().release}")):
        with contextlib.suppress(OSError, EOFError, ValueError):
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt") as config:
                for line in config:
                    if line.startswith("CONFIG_HZ="):
                        return 1e6 / int(line.split("=")[1])
    return 1e6 / 100


@dataclass
class Reading:
    """Cumulative counters of one server's tree at one moment (None: not counted this way)."""

    cpu_s: float
    user_s: float
    system_s: float
    memory_bytes: int | None  # counted once: the cgroup's charge, or the sum of PSS
    faults: int | None  # minor and major page faults


@dataclass
class Method:
    """How a server's figures were counted, and to what resolution: stored with every cell."""

    cpu: str
    cpu_resolution_us: float  # one unit of the CPU counter (per read)
    split_resolution_us: float  # of user and system apart
    memory: str
    faults: str
    group: str = ""  # the cgroup's directory ('' when counted from /proc)
    why_not_cgroup: str = ""  # where /proc was used: why
    split: bool = True  # whether user and system apart can be trusted (not from /proc)


def mounts() -> tuple[Path | None, dict[str, Path]]:
    """(the cgroup v2 mount, {v1 controller: its mount}) as /proc/self/mountinfo lists them."""
    unified: Path | None = None
    legacy: dict[str, Path] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            kind, _source, options = [*right.split(), "", "", ""][:3]
            point = Path(left.split()[4])
            if kind == "cgroup2" and unified is None:
                unified = point
            elif kind == "cgroup":
                for option in options.split(","):
                    legacy.setdefault(option, point)
    return unified, legacy


def own_groups() -> dict[str, str]:
    """This process's cgroup path per hierarchy: '' for v2, each v1 controller by name."""
    found = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                found[name] = path
    return found


def _read(path: Path) -> str:
    return path.read_text()


def _flat(path: Path) -> dict[str, int]:
    """A cgroup 'flat keyed' file (cpu.stat, memory.stat) as a dict."""
    table = {}
    for line in _read(path).splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            table[key] = int(value)
    return table


_serial = 0


def harness_id(pid: int) -> str:
    """'<pid>.<start time in clock ticks since boot>': a process, told apart from a later one
    that was given the same pid ('' where it is gone)."""
    fields = proc_stat(pid)
    return f"{pid}.{fields[19]}" if fields else ""


def _make(parent: Path, name: str) -> Path | None:
    """mkdir a group under `parent` (None where the kernel or permissions say no)."""
    try:
        path = parent / name
        path.mkdir()
        return path
    except OSError:
        return None


@dataclass
class Group:
    """One server's cgroups: one directory per hierarchy that counts something for it."""

    name: str
    cpu: Path | None = None  # where CPU is read
    cpu_v2: bool = False
    memory: Path | None = None  # where memory and faults are read
    memory_v2: bool = False
    killer: Path | None = None  # a v2 group with cgroup.kill
    freezer: Path | None = None  # a v1 freezer group, where there is no cgroup.kill
    dirs: list[Path] = field(default_factory=list)  # every directory made, to join and remove
    seen: set[int] = field(default_factory=set)  # every member found while stopping it

    @classmethod
    def create(cls) -> Group | str:
        """A new group for one server, or the reason none can be had."""
        global _serial
        if os.environ.get(FORCE) == "proc":
            return f"{FORCE}=proc asked for /proc"
        _serial += 1
        group = cls(f"{PREFIX}{harness_id(os.getpid())}-{_serial}")
        v2, v1 = parents()
        if v2:
            _enable_controllers(v2[0])
        for parent in v2:
            made = _make(parent, group.name)
            if made is None:
                continue
            group.dirs.append(made)
            if (made / "cpu.stat").exists():
                group.cpu, group.cpu_v2 = made, True
            if (made / "memory.current").exists():
                group.memory, group.memory_v2 = made, True
            if (made / "cgroup.kill").exists():
                group.killer = made
            break
        wants = (
            ("cpuacct", group.cpu is None),
            ("memory", group.memory is None),
            ("freezer", group.killer is None),
        )
        for controller, wanted in wants:
            if not wanted or controller not in v1:
                continue
            made = _make(v1[controller], group.name)
            if made is None:
                continue
            group.dirs.append(made)
            if controller == "cpuacct" and (made / "cpuacct.usage").exists():
                group.cpu = made
            if controller == "memory" and (made / "memory.usage_in_bytes").exists():
                group.memory = made
            if controller == "freezer" and (made / "freezer.state").exists():
                group.freezer = made
        if group.cpu is None:
            group.remove()
            return "no cgroup could be made here (not root, and no delegated cgroup)"
        return group

    def join(self) -> None:
        """Move the calling process into every directory of the group: called in the server's
        process between fork and exec, so that all it starts is charged from its first step."""
        text = str(os.getpid()).encode()
        for path in self.dirs:
            with contextlib.suppress(OSError):  # checked from outside: kept_for()
                fd = os.open(path / "cgroup.procs", os.O_WRONLY)
                try:
                    os.write(fd, text)
                finally:
                    os.close(fd)

    def kept_for(self, pid: int) -> bool:
        """Keep the directories `pid` joined, remove the others (and what they counted);
        whether its CPU is still counted here."""
        for path in list(self.dirs):
            try:
                joined = str(pid) in _read(path / "cgroup.procs").split()
            except OSError:
                joined = False
            if joined:
                continue
            self.dirs.remove(path)
            with contextlib.suppress(OSError):
                path.rmdir()
            for role in ("cpu", "memory", "killer", "freezer"):
                if getattr(self, role) == path:
                    setattr(self, role, None)
        return self.cpu is not None

    def read(self) -> Reading:
        """The group's counters now (a file read each: no walk of the tree)."""
        assert self.cpu is not None
        if self.cpu_v2:
            stat = _flat(self.cpu / "cpu.stat")
            cpu, user, system = (stat[k] / 1e6 for k in ("usage_usec", "user_usec", "system_usec"))
        else:
            cpu = int(_read(self.cpu / "cpuacct.usage")) / 1e9
            user = int(_read(self.cpu / "cpuacct.usage_user")) / 1e9
            system = int(_read(self.cpu / "cpuacct.usage_sys")) / 1e9
        memory = faults = None
        if self.memory is not None:
            if self.memory_v2:
                memory = int(_read(self.memory / "memory.current"))
                faults = _flat(self.memory / "memory.stat").get("pgfault")
            else:
                memory = int(_read(self.memory / "memory.usage_in_bytes"))
                faults = _flat(self.memory / "memory.stat").get("total_pgfault")
        return Reading(cpu, user, system, memory, faults)

    def peak_bytes(self) -> int | None:
        """The most memory the group held since it was made (None where not kept)."""
        if self.memory is None:
            return None
        name = "memory.peak" if self.memory_v2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int(_read(self.memory / name))
        return None

    def pids(self) -> set[int]:
        """Every process in the group now, in any of its directories."""
        found: set[int] = set()
        for path in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(pid) for pid in _read(path / "cgroup.procs").split())
        return found

    def kill(self, timeout: float = 5.0, spare: int = 0) -> bool:
        """SIGKILL every process of the group until it is empty, then reap those that were our
        children (the server's orphans, a daemon, re-parented to us: never `spare`, whose
        subprocess.Popen reaps it); False if the group is not empty by the `timeout`. With
        cgroup.kill the kernel kills them; without it, the group is frozen first (v1 freezer)
        so that no pid is freed and given to another process while it is being signalled."""
        deadline = time.monotonic() + timeout
        while True:
            members = self.pids()
            self.seen |= members
            if not members:
                break
            if self.killer is not None:
                with contextlib.suppress(OSError):
                    (self.killer / "cgroup.kill").write_text("1")
            else:
                self._signal_frozen(members)
            self._reap(spare)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        self._reap(spare)
        return True

    def _signal_frozen(self, members: set[int]) -> None:
        if self.freezer is not None:
            with contextlib.suppress(OSError):
                (self.freezer / "freezer.state").write_text("FROZEN")
            members = self.pids()  # frozen: none of them can exit or fork now
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self.freezer is not None:
            with contextlib.suppress(OSError):
                (self.freezer / "freezer.state").write_text("THAWED")

    def _reap(self, spare: int) -> None:
        for pid in self.seen - {spare}:
            with contextlib.suppress(ChildProcessError, OSError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    self.seen.discard(pid)

    def remove(self) -> None:
        """rmdir every directory of the group (an empty group only)."""
        for path in reversed(self.dirs):
            with contextlib.suppress(OSError):
                path.rmdir()

    def method(self) -> Method:
        if self.cpu_v2:
            cpu, unit = "cgroup v2 cpu.stat (the whole tree, reaped children included)", 1.0
        else:
            cpu, unit = "cgroup v1 cpuacct (the whole tree, reaped children included)", 0.001
        if self.memory is None:
            memory, faults = PSS_METHOD, PROC_FAULTS
        elif self.memory_v2:
            memory, faults = "cgroup v2 memory.current (each page once)", CGROUP_FAULTS
        else:
            memory, faults = "cgroup v1 memory.usage_in_bytes (each page once)", CGROUP_FAULTS
        return Method(cpu, unit, kernel_tick_us(), memory, faults, str(self.cpu))


CGROUP_FAULTS = "cgroup memory.stat pgfault (the whole tree)"
PSS_METHOD = "PSS summed over the tree (/proc smaps_rollup: shared pages split)"
PROC_FAULTS = "/proc minflt + majflt, reaped children's included"


V1_CONTROLLERS = ("cpuacct", "memory", "freezer")


def parents() -> tuple[list[Path], dict[str, Path]]:
    """Where this harness makes its groups: the cgroup v2 folders in order of preference (a
    'webmodels' folder at the top, where root can enable the controllers, else beside this
    process in its own, delegated, group), and per v1 controller the folder of this process's
    own group."""
    unified, legacy = mounts()
    own = own_groups()
    v2 = []
    if unified is not None and "" in own:
        v2 = [unified / "webmodels", unified / own[""].lstrip("/")]
    v1 = {
        controller: legacy[controller] / own[controller].lstrip("/")
        for controller in V1_CONTROLLERS
        if controller in legacy and controller in own
    }
    return v2, v1


def _enable_controllers(top: Path) -> None:
    """Make the top 'webmodels' folder and hand it memory and pids where the machine has them
    (as root; a user's attempt fails quietly and the delegated folder is used)."""
    unified = top.parent
    with contextlib.suppress(OSError):
        top.mkdir(exist_ok=True)
        controllers = _read(unified / "cgroup.controllers").split()
        for controller in ("memory", "pids"):
            if controller in controllers:
                with contextlib.suppress(OSError):
                    (unified / "cgroup.subtree_control").write_text(f"+{controller}")
                with contextlib.suppress(OSError):
                    (top / "cgroup.subtree_control").write_text(f"+{controller}")


def proc_method(why: str) -> Method:
    """How the /proc fallback counts, where no cgroup was had."""
    return Method(
        "/proc: each process's CPU clock (ns), plus the CPU of the children its processes "
        "reaped (cutime + cstime, clock ticks)",
        TICK_US,  # the reaped children's part comes in ticks
        TICK_US,  # utime and stime are ticks
        PSS_METHOD,
        PROC_FAULTS,
        "",
        why,
        # /proc gives a process that never met a tick all its time as user time: a forked
        # child of a few ms usually, so a fork model's split would be wrong, not just coarse
        split=False,
    )


def process_clock(pid: int) -> float | None:
    """A process's CPU time in seconds from its CPU clock (a zombie's too, its exited threads
    included), to the nanosecond; None if it is gone."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)  # MAKE_PROCESS_CPUCLOCK(pid, SCHED)
    except OSError:
        return None


def proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (index 0 is the state)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def count_tree(pids: list[int], memory: bool = True) -> Reading:
    """The /proc fallback's Reading of these processes (a tree: live ones and zombies)."""
    cpu = 0.0
    user_ticks = system_ticks = faults = pss = 0
    for pid in pids:
        fields = proc_stat(pid)
        if fields is None:
            continue
        # after the state: ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        # utime stime cutime cstime
        minflt, cminflt, majflt, cmajflt = (int(fields[i]) for i in (7, 8, 9, 10))
        utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
        own = process_clock(pid)
        reaped = (cutime + cstime) * TICK_US / 1e6
        cpu += (own if own is not None else (utime + stime) * TICK_US / 1e6) + reaped
        user_ticks += utime + cutime
        system_ticks += stime + cstime
        faults += minflt + cminflt + majflt + cmajflt
        if memory and fields[0] != "Z":
            pss += _pss(pid)
    # /proc keeps user and system time apart only in whole ticks per process, which a short
    # life (a forked child) rounds to none: the CPU is split by the ticks' proportion instead
    ticks = user_ticks + system_ticks
    user = cpu * user_ticks / ticks if ticks else 0.0
    return Reading(cpu, user, cpu - user if ticks else 0.0, pss if memory else None, faults)


def _pss(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def sweep_leftovers() -> list[str]:
    """Groups that a harness no longer running left behind (killed with SIGKILL, say): their
    processes stopped, the groups removed. What was found, in words."""
    v2, v1 = parents()
    found = []
    for parent in [*v2, *v1.values()]:
        with contextlib.suppress(OSError):
            for path in parent.glob(f"{PREFIX}*"):
                harness = path.name[len(PREFIX) :].split("-")[0]
                pid = harness.split(".")[0]
                if not pid.isdigit() or harness_id(int(pid)) == harness:
                    continue  # its harness still runs
                left = Group(path.name, dirs=[path])
                if (path / "cgroup.kill").exists():
                    left.killer = path
                if (path / "freezer.state").exists():
                    left.freezer = path
                members = left.pids()
                left.kill()
                left.remove()
                if members:
                    found.append(f"{len(members)} process(es) in {path}")
    return found
