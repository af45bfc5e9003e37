"""The concurrency models, one module each, in the order of the seed's progression.

Each module has a docstring whose first line describes it, the flags that make the environ
truthful (MULTIPROCESS, MULTITHREAD, KEEP_ALIVE, NEEDS_APP), SPEAKS_ASGI when it serves
ASGI applications too, and `serve(server)`.
"""

MODELS = (
    "basic",
    "iterative",
    "sleep",
    "fork",
    "fork_leak",
    "fork_wait",
    "fork_reap",
    "threaded",
    "asyncio",
    "prefork",
)
