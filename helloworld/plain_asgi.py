"""A plain ASGI 3 application: `/hello/` answers "Hello, world!", anything else 404.

The ASGI twin of helloworld.plain, with as little overhead, so that comparisons between ASGI
servers measure the servers.
"""

from __future__ import annotations

from typing import Any

HELLO = b"Hello, world!"
HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13")],
}
HELLO_BODY = {"type": "http.response.body", "body": HELLO}
NOT_FOUND_START = {
    "type": "http.response.start",
    "status": 404,
    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"9")],
}
NOT_FOUND_BODY = {"type": "http.response.body", "body": b"Not Found"}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer /hello/; ignore the lifespan scope (returning from it says it is unsupported)."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/hello/":
        await send(HELLO_START)
        await send(HELLO_BODY)
    else:
        await send(NOT_FOUND_START)
        await send(NOT_FOUND_BODY)
