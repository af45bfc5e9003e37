"""The harness's locustfile with a fault chosen by BENCH_FAULT, to test that the harness bounds
and records a load generator that fails: "import-error" (a broken locustfile), "kill" (locust
dies after 100 requests: SIGKILL) or "stop" (it hangs after 100 requests: SIGSTOP of its group).
"""

import os
import signal

from locust import events

from bench.locustfile import FIGURES, WorkloadUser  # noqa: F401 (the user class locust runs)

FAULT = os.environ.get("BENCH_FAULT", "")
if FAULT == "import-error":
    raise RuntimeError("a broken locustfile, on purpose")


@events.request.add_listener
def _fault(**_: object) -> None:
    if FIGURES.sent >= 100 and FAULT == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if FIGURES.sent >= 100 and FAULT == "stop":
        os.killpg(os.getpgrp(), signal.SIGSTOP)
