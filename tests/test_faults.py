"""The harness under faults. First, the check that ends every test session: it must see a
process a test left behind."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.conftest import live_descendants

pytestmark = pytest.mark.slow


# the session's own check ----------------------------------------------------------------


def test_the_session_check_sees_a_leftover_child_and_an_orphan() -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    spawned = subprocess.run(
        ["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    orphan = int(spawned.stdout)  # its parent has exited: it was re-parented to us
    try:
        left = {process.pid for process in live_descendants()}
        assert sleeper.pid in left and orphan in left
    finally:
        sleeper.kill()
        sleeper.wait()
        os.kill(orphan, signal.SIGKILL)
        os.waitpid(orphan, 0)
    left = {process.pid for process in live_descendants()}
    assert sleeper.pid not in left and orphan not in left
