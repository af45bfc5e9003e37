"""The harness's load generator with a fault per cell, to test that the harness bounds and
records a generator that fails. The faults are read in order, one per line, from the file that
BENCH_FAULTS names: "import-error" (the generator cannot start: it raises as it is imported),
"kill" (it dies after 100 requests: SIGKILL), "stop" (it hangs after 100 requests: SIGSTOP of
its group), or an empty line (no fault). A start of the generator takes the next line only
when it is "import-error"; a cell takes the next line.
"""

import os
import signal
from pathlib import Path

import gevent
import locust  # noqa: F401  first, as bench.generator does

from bench import generator, locustfile

FAULTS = Path(os.environ["BENCH_FAULTS"])


def next_fault() -> str:
    lines = FAULTS.read_text().split("\n")
    FAULTS.write_text("\n".join(lines[1:]))
    return lines[0].strip()


if FAULTS.read_text().startswith("import-error"):
    next_fault()
    raise RuntimeError("a broken load generator, on purpose")


def strike(fault: str) -> None:
    while locustfile.FIGURES.sent < 100:
        gevent.sleep(0.005)
    if fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "stop":
        os.killpg(os.getpgrp(), signal.SIGSTOP)


real_run_cell = generator.run_cell


def run_cell_with_fault(command: dict) -> None:
    fault = next_fault()
    striker = gevent.spawn(strike, fault) if fault else None
    try:
        real_run_cell(command)
    finally:
        if striker is not None:
            striker.kill()


generator.run_cell = run_cell_with_fault

if __name__ == "__main__":
    raise SystemExit(generator.main())
