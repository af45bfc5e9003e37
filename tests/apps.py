"""Applications used only by the tests."""

from wsgiref.validate import validator

from helloworld.plain import app as plain_app

# The plain app wrapped in wsgiref's validator: any PEP 3333 violation by the server (or the app)
# raises inside it, and the server then answers 500 instead of 200.
validated = validator(plain_app)


async def lifespan_app(scope, receive, send):
    """An ASGI app that supports the lifespan protocol and shares state with requests."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["greeting"] = b"started by lifespan"
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = scope["state"]["greeting"]
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def streaming_app(scope, receive, send):
    """An ASGI app that streams its body in parts, awaiting between them."""
    import asyncio

    await send({"type": "http.response.start", "status": 200, "headers": []})
    for part in (b"one,", b"two,", b"three"):
        await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def flags(environ, start_response):
    """Answers [wsgi.multithread, wsgi.multiprocess], to check each model says the truth."""
    import json

    body = json.dumps([environ["wsgi.multithread"], environ["wsgi.multiprocess"]]).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def wrong_hello(environ, start_response):
    """Answers every request, but not what the workload expects: verification must catch it."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "8")])
    return [b"Goodbye!"]


_served = [0]


def crash_after_200(environ, start_response):
    """Serves 200 requests correctly, then kills its own server process: a crash mid-cell."""
    import os

    _served[0] += 1
    if _served[0] > 200:
        os._exit(3)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, world!"]


_first_request = [0.0]


def stall_once(environ, start_response):
    """Answers at once, except that the first request after 1 s stalls for 1 s: served inline by
    the asyncio model, it stalls the whole server once (coordinated omission's test case)."""
    import time

    now = time.monotonic()
    if not _first_request[0]:
        _first_request[0] = now
    elif _first_request[0] > 0 and now - _first_request[0] > 1.0:
        _first_request[0] = -1.0  # once
        time.sleep(1.0)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, world!"]


# Servers that go wrong part-way, for tests/test_faults.py (served by asyncio: one process, so
# the counts are the server's).
_counts = {"hang": 0, "wrong": 0, "rare": 0, "slow": 0}
HELLO = b"Hello, world!"


def _answer(start_response, body: bytes = HELLO, status: str = "200 OK") -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def hang_after_100(environ, start_response):
    """Answers 100 requests, then stops its own process group (SIGSTOP): a hung server."""
    import os
    import signal

    _counts["hang"] += 1
    if _counts["hang"] > 100:
        os.killpg(os.getpgrp(), signal.SIGSTOP)
    return _answer(start_response)


def wrong_after_100(environ, start_response):
    """Answers 100 requests right (the verification among them), then alternately a 500 and a
    200 with the wrong body."""
    _counts["wrong"] += 1
    if _counts["wrong"] <= 100:
        return _answer(start_response)
    if _counts["wrong"] % 2:
        return _answer(start_response, b"broken", "500 Internal Server Error")
    return _answer(start_response, b"Hello, wrong!")


def rare_500(environ, start_response):
    """Every 200th request gets a 500 (0.5 %, under the 1 % that fails a cell)."""
    _counts["rare"] += 1
    if _counts["rare"] % 200 == 0:
        return _answer(start_response, b"broken", "500 Internal Server Error")
    return _answer(start_response)


def slow_first_answer(environ, start_response):
    """Takes 2 s over its first answer (the harness's verification), then answers at once."""
    import time

    _counts["slow"] += 1
    if _counts["slow"] == 1:
        time.sleep(2)
    return _answer(start_response)


FAKE_SECRETS = ("DJANGO_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN")  # the test sets


def tells_secrets(environ, start_response):
    """Prints the fake secrets the test put in its environment (as a careless server might),
    then answers wrongly, so that the harness keeps the tail of its output."""
    import os
    import sys

    for name in FAKE_SECRETS:
        print(f"{name}={os.environ.get(name)}", file=sys.stderr, flush=True)
    return _answer(start_response, b"Goodbye!")


def clock_hello(environ, start_response):
    """Answers hello, and appends the moment of each request (time.monotonic(), the clock the
    harness's window is on) to the file that BENCH_TEST_CLOCK names."""
    import os
    import time

    moment = time.monotonic()
    with open(os.environ["BENCH_TEST_CLOCK"], "a") as log:
        log.write(f"{moment}\n")
    return _answer(start_response)


def django_without_path_info(environ, start_response):
    """Django behind a server that leaves PATH_INFO out of the environ (PEP 3333 requires it):
    Django then sees every request as one for "/" and answers 404."""
    from helloworld.wsgi import application

    environ.pop("PATH_INFO", None)
    return application(environ, start_response)


SLOW_S = 0.36  # 16 users on a thread each: 16 / 0.36 s = 44 req/s, below sleep's 50 one at a time


def slow(environ, start_response):
    """The plain app after a blocking 0.36 s: on a thread per connection, as slow for its clients
    as a server that answers one request at a time (its own count tells them apart)."""
    import time

    time.sleep(SLOW_S)
    return plain_app(environ, start_response)
