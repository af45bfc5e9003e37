"""Server rows that fail on purpose, for tests/test_faults.py.

`python -m tests.faulty_servers run ...` is `python -m bench run ...` with these rows added, so
that a test can run the real command line against them and signal it.
"""

from __future__ import annotations

import sys

from bench.catalog import SERVERS, ServerSpec


def _row(name: str, description: str, app: str) -> ServerSpec:
    return ServerSpec(name, description, "ours", "asyncio", app=app)


FAULTY = {
    spec.name: spec
    for spec in (
        _row("exits", "exits at once: its application does not exist", "tests.apps:no_such_app"),
        _row("never-listens", "imports its application for a minute", "tests.apps_slow_import:app"),
        _row("hangs", "stops itself (SIGSTOP) after 100 requests", "tests.apps:hang_after_100"),
        _row("wrong-later", "500s, wrong bodies after 100 answers", "tests.apps:wrong_after_100"),
        _row("rare-500", "a 500 every 200 requests", "tests.apps:rare_500"),
        _row("slow-verify", "takes 2 s over its first answer", "tests.apps:slow_first_answer"),
        _row("tells-secrets", "prints secret environment variables", "tests.apps:tells_secrets"),
    )
}


def main(argv: list[str] | None = None) -> int:
    """`python -m bench` with the faulty rows among the servers."""
    SERVERS.update(FAULTY)
    from bench.__main__ import main as bench_main

    return bench_main(argv)


if __name__ == "__main__":
    sys.exit(main())
