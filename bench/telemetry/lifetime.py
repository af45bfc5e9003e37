"""Lifetime: every process the harness starts dies with it, even when the harness is killed with
SIGKILL (then no `finally` of ours runs, and nothing of the harness is left to clean up).

Two things do it, as neither alone can:

- `die_with_parent`: PR_SET_PDEATHSIG, set in each child between fork and exec. The kernel sends
  the signal when the *thread* that forked the child ends (or the whole harness, SIGKILL
  included). Every process of the harness is started from a thread that outlives it: launched()
  and ServerProcess are entered and left by one thread, which waits for the server's stop; the
  load generator is started and closed by the session's thread; wrk and the scale holder are
  waited for by the call that started them. It reaches only our own children, though: a fork
  model's children, a prefork's or a peer's workers are the server's, not ours.

- a warden per server (`Warden`, this file run as a script): a tiny process in a session of its
  own, not in the server's group or cgroup and with no death signal, reading a pipe whose other
  end only the harness holds. When that pipe reaches its end without the harness saying `done`
  (the harness ended, however), it SIGKILLs the server's process group and empties its cgroup
  (cgroup v2 `cgroup.kill`; v1: SIGKILL to each member, frozen first where a freezer is there),
  removes the cgroup and exits. So the rest of a server's tree, daemons that left the group
  included where there is a cgroup, goes too: the survivor that a cgroup kill needs is the
  warden. The registry's sweep at the next run (bench/run/registry.py,
  accounting.sweep_leftovers) stays as the last resort, for a warden killed too.

As a script it uses the standard library only (`python -I -S`: a start of a few milliseconds).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1
KILL_WITHIN_S = 5.0  # the warden's bound on emptying a group after the harness ended
DONE = b"done\n"

try:  # resolved here, in the parent: a dlopen between fork and exec could wait on a lock forever
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: no death signal
    _prctl = None


def die_with_parent(signum: int = signal.SIGKILL, parent: int = 0) -> bool:
    """In a child before exec: get `signum` when the thread that forked it ends. If `parent`
    (its pid, read before the fork) is already gone, the signal comes now: it ended between the
    fork and here, when no death signal was set yet. False where there is no prctl."""
    if _prctl is None or _prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        return False
    if parent and os.getppid() != parent:
        os.kill(os.getpid(), signum)
    return True


def child_setup(
    signum: int = signal.SIGKILL, then: Callable[[], None] | None = None
) -> Callable[[], None]:
    """A preexec_fn that sets the death signal, then runs `then` (pinning, limits...). Made in
    the parent, in the thread that starts the child: the one whose end will signal it."""
    parent = os.getpid()

    def setup() -> None:
        die_with_parent(signum, parent)
        if then is not None:
            then()

    return setup


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A step of child_setup: run on `cpus` (None: as the harness does)."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def start_time(pid: int) -> str:
    """The process's start, in clock ticks since boot ('' where it is gone): tells it apart from
    a later process given the same pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return text[text.rindex(")") + 2 :].split()[19]


class Warden:
    """The warden of one server: started right after the server, released after its stop."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen

    @classmethod
    def start(cls, pgid: int, group_dirs: Sequence[Path] = ()) -> Warden | None:
        """A warden for process group `pgid` (its leader's start time checked before a kill)
        and the cgroup directories of the server; None where it cannot be started (the death
        signal and the registry are left)."""
        argv = [str(pgid), start_time(pgid), *map(str, group_dirs)]
        try:
            popen = subprocess.Popen(
                [sys.executable, "-I", "-S", __file__, *argv],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # not the terminal's Ctrl-C, not a kill of our group
            )
        except OSError:
            return None
        return cls(popen)

    def release(self) -> None:
        """The server is stopped and reaped: the warden may go without doing anything."""
        stdin = self.popen.stdin
        with contextlib.suppress(OSError, ValueError):
            if stdin is not None:
                stdin.write(DONE)
                stdin.close()
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


# the warden's side -------------------------------------------------------------------------


def _members(pgid: int) -> set[int]:
    """The live (not zombie) processes of group `pgid`."""
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                text = Path(entry.path, "stat").read_text()
                state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
                if int(pgrp) == pgid and state not in "ZX":
                    found.add(int(entry.name))
    return found


def _cgroup_pids(folder: Path) -> set[int]:
    with contextlib.suppress(OSError, ValueError):
        return {int(pid) for pid in (folder / "cgroup.procs").read_text().split()}
    return set()


def _kill_cgroup(folder: Path) -> None:
    """SIGKILL everything in one cgroup directory: cgroup.kill (v2), else each member, frozen
    first where the directory is a v1 freezer's (no pid is freed and reused meanwhile)."""
    if (folder / "cgroup.kill").exists():
        with contextlib.suppress(OSError):
            (folder / "cgroup.kill").write_text("1")
        return
    frozen = (folder / "freezer.state").exists()
    with contextlib.suppress(OSError):
        if frozen:
            (folder / "freezer.state").write_text("FROZEN")
        for pid in _cgroup_pids(folder):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if frozen:
            (folder / "freezer.state").write_text("THAWED")


def kill_everything(pgid: int, leader_started: str, folders: Sequence[Path]) -> int:
    """SIGKILL the group and the cgroup until both are empty (within KILL_WITHIN_S); remove the
    cgroup. The group is left alone if its leader's pid now names another process (the group
    is empty then: a pid is not given again while a group has it). How many were killed."""
    same = start_time(pgid) in ("", leader_started)
    deadline = time.monotonic() + KILL_WITHIN_S
    seen: set[int] = set()
    while True:
        left = _members(pgid) if same else set()
        for folder in folders:
            left |= _cgroup_pids(folder)
        seen |= left
        if not left or time.monotonic() > deadline:
            break
        if same:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        for folder in folders:
            _kill_cgroup(folder)
        time.sleep(0.02)
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()
    return len(seen)


def warden_main(argv: Sequence[str]) -> int:
    """Wait for the harness's pipe to end; unless it said `done`, kill what it started."""
    pgid, leader_started, *folders = argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the pipe's end matters
    said = b""
    while chunk := os.read(0, 64):
        said += chunk
    if said.endswith(DONE):
        return 0
    kill_everything(int(pgid), leader_started, [Path(folder) for folder in folders])
    return 0


if __name__ == "__main__":
    sys.exit(warden_main(sys.argv[1:]))
