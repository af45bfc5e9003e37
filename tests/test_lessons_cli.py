"""`python -m bench lesson`: each lesson run for real and its verdict checked against what it
measured (a known answer where the model makes one: a zombie per child under fork, descriptors
at the limit under fork_leak, one request at a time under iterative); its neighbour's load giving
the other verdict; the list; the code diff; and what a learner sees in a terminal (a pty)."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import psutil
import pytest
from rich.console import Console

from bench.launch import REPO_ROOT
from bench.lessons import LESSONS, NOFILE
from bench.lessons.cli import main
from bench.lessons.diff import code_diff
from bench.lessons.judge import Measured
from bench.lessons.load import Load, Outcome
from bench.lessons.view import sparkline
from bench.record import ServerReports
from servers.models import MODELS

DURATION_S = 2.0  # shorter than a learner's 6 s: the lessons run side by side under xdist
TIMEOUT_S = 3.0
BOUND_S = 30.0  # every lesson ends by itself within this


def run(name: str, neighbour: bool = False):  # -> bench.lessons.run.Ran
    from bench.lessons.run import run_lesson

    quiet = Console(file=io.StringIO(), width=100)
    return run_lesson(LESSONS[name], DURATION_S, TIMEOUT_S, neighbour, quiet)


# the lessons, run ---------------------------------------------------------------------------


def known_answers(name: str, m: Measured, figures: dict[str, float]) -> None:
    """What each model makes certain, checked from the raw measurement, not the verdict."""
    answered = len(m.answered)
    if name == "socket":
        assert answered == len(m.outcomes) == 30
        assert figures["closed"] == answered
        assert m.exchange[1].startswith(b"HTTP/1.1 200 OK\r\n")
    elif name == "iterative":
        assert m.reports.most_in_progress == 1  # the server's own count
        assert max(m.latencies()) >= 0.8 * len(m.outcomes) * m.load.view_s
    elif name == "sleep":
        assert max(m.latencies()) >= 0.8 * (len(m.outcomes) - 1) * m.load.pause_s
    elif name == "fork":
        assert m.last("zombies") == answered  # one zombie per child, each served one client
    elif name == "fork_leak":
        assert m.last("parent_fds") == NOFILE == m.nofile  # held at the limit
        assert m.emfile > 0 and figures["left_open"] == answered
    elif name == "fork_wait":
        assert 0 < m.last("zombies") < answered
    elif name == "fork_reap":
        assert m.last("zombies") == 0 and answered == m.load.total
    elif name == "threaded":
        assert (m.reports.most_in_progress or 0) >= 3  # the server's own count
    elif name == "asyncio":
        assert m.peak("threads") == 1
    elif name == "prefork":
        assert m.peak("children") == 2 and m.last("zombies") == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LESSONS))
def test_each_lesson_shows_its_lesson_from_what_it_measured(name: str) -> None:
    ran = run(name)
    verdict, measured = ran.verdict, ran.measured
    assert verdict.shown, verdict.headline
    assert measured.model == LESSONS[name].setup.model
    known_answers(name, measured, verdict.figures)
    assert measured.elapsed_s <= BOUND_S
    assert measured.left_running == ()  # no process of the server's group is left
    assert not list((REPO_ROOT / "results").glob(f".lesson-{os.getpid()}"))  # its registry


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in LESSONS if name != "socket"])
def test_the_same_load_on_the_neighbour_gives_the_other_verdict(name: str) -> None:
    ran = run(name, neighbour=True)
    assert ran.measured.model == LESSONS[name].neighbour.model
    assert not ran.verdict.shown, ran.verdict.headline
    assert ran.measured.elapsed_s <= BOUND_S and ran.measured.left_running == ()


# what the verdicts compute, on known figures ----------------------------------------------------


def measured(outcomes: list[Outcome], view_s: float) -> Measured:
    load = Load("/sleep/", len(outcomes), view_s=view_s)
    return Measured("iterative", "iterative", load, [], outcomes, 1024, ServerReports(), 0.0)


def test_overlap_is_the_views_time_over_the_time_to_answer_them() -> None:
    one_by_one = [Outcome(0.0, k + 1.0, k + 1.0) for k in range(4)]  # answered at 1, 2, 3, 4 s
    together = [Outcome(0.0, 1.0, 1.0) for _ in range(4)]
    assert measured(one_by_one, 1.0).overlap == pytest.approx(1.0)
    assert measured(together, 1.0).overlap == pytest.approx(4.0)
    failed = [*together, Outcome(0.0, 3.0, None, "timeout")]  # a failure is no view served
    assert measured(failed, 1.0).overlap == pytest.approx(4.0)


def test_sparkline_scales_and_squeezes() -> None:
    assert sparkline([0, 4, 8]) == "▁▅█"
    assert sparkline([16], top=64) == "▃"  # against a ceiling: descriptors of their limit
    # squeezed: each character the highest of its tenth (9, 19, ... 99) of 99 in 7 steps
    assert sparkline(list(range(100)), width=10) == "▂▂▃▄▄▅▆▇▇█"
    assert sparkline([0, 0]) == "▁▁" and sparkline([]) == ""


# the code and the command line ------------------------------------------------------------------


def test_the_diff_is_the_changed_code_numbered_as_in_the_files() -> None:
    lines = code_diff("fork", "fork_leak")
    assert lines[:2] == ["--- servers/models/fork.py", "+++ servers/models/fork_leak.py"]
    assert "-        conn.close()" in lines and "+        kept.append(conn)" in lines
    assert not any("concurrentserver" in line for line in lines)  # no docstring
    serve = [
        (REPO_ROOT / "servers" / "models" / f"{m}.py")
        .read_text()
        .splitlines()
        .index("def serve(server: Server) -> None:")
        + 1
        for m in ("fork", "fork_leak")
    ]
    hunk = next(line for line in lines if line.startswith("@@"))
    assert hunk.startswith(f"@@ -{serve[0]},") and f" +{serve[1]}," in hunk


def test_a_long_diff_is_cut_with_how_to_see_it_all() -> None:
    lines = code_diff("asyncio", "prefork", most=10)
    assert len(lines) == 11
    assert lines[-1].endswith("diff -u servers/models/asyncio.py servers/models/prefork.py")


def test_list_names_a_lesson_for_every_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 10
    names = {line.split()[0] for line in lines}
    models = {line.split()[1] for line in lines}
    assert names == set(LESSONS) and models == set(MODELS)
    assert all(len(line.split()) > 3 for line in lines)  # each says what it shows


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["nosuch"], "invalid choice: 'nosuch'"),
        ([], "name a lesson"),
        (["fork", "--duration", "1m"], "--duration must be from 1s to 15s"),
        (["fork", "--timeout", "0.1s"], "--timeout must be from 0.5s to 8s"),
    ],
)
def test_bad_input_is_a_usage_error(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert said in error and "Traceback" not in error


@pytest.mark.slow
def test_ctrl_c_stops_and_reaps_the_lessons_server() -> None:
    lesson = subprocess.Popen(
        [sys.executable, "-m", "bench", "lesson", "fork", "--duration", "6s"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        server = None
        for _ in range(200):  # the server, once it has forked children (the load is under way)
            server = next(
                (p for p in psutil.Process(lesson.pid).children() if "servers" in p.cmdline()),
                None,
            )
            if server is not None and len(server.children()) > 5:
                break
            time.sleep(0.05)
        assert server is not None, "the lesson's server did not start"
        os.killpg(lesson.pid, signal.SIGINT)  # as Ctrl-C in its terminal
        output, _ = lesson.communicate(timeout=20)
    finally:
        if lesson.poll() is None:
            os.killpg(lesson.pid, signal.SIGKILL)
            lesson.wait()
    assert lesson.returncode == 130, output.decode()[-1000:]
    assert b"interrupted: the server was stopped and reaped" in output
    assert b"Traceback" not in output
    with pytest.raises(ProcessLookupError):
        os.killpg(server.pid, 0)  # its process group is gone: the server and every child


# what the learner sees ---------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]")


def through_a_pty(args: list[str], timeout_s: float = 60.0) -> tuple[int, str]:
    """Run `python -m bench ARGS` on a pseudo-terminal (as a learner's terminal): its exit
    status and everything it drew, escape sequences removed."""
    master, slave = pty.openpty()
    env = os.environ | {"COLUMNS": "100", "LINES": "40", "TERM": "xterm-256color"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO_ROOT,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    output, deadline = b"", time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side has closed
                break
            if not data:
                break
            output += data
        code = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.close(master)
    return code, ANSI.sub("", output.decode("utf-8", "replace")).replace("\r", "")


@pytest.mark.slow
def test_the_learner_sees_live_counts_the_verdict_and_the_code() -> None:
    code, seen = through_a_pty(["lesson", "fork_wait", "--duration", "2s"])
    assert code == 0, seen[-2000:]
    assert seen.count("lesson fork_wait") >= 3  # drawn again and again while it ran
    for row in ("zombies", "children alive", "descriptors (parent)", "clients waiting"):
        assert row in seen
    assert re.search(r"answered +200 ", seen)  # the last frame: every connection answered
    assert re.search(r"verdict: shown: zombies rose to \d+ and stayed", seen)
    assert "-            os.wait()" in seen  # the diff: one wait() per signal...
    assert "+                pid, _status = os.waitpid(-1, os.WNOHANG)" in seen  # ...a loop
    assert "nothing left running" in seen
