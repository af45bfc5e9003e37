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
