"""A plain ASGI 3 application with the plain WSGI app's routes and as little overhead.

The ASGI twin of helloworld.plain, so that comparisons between ASGI servers, and between the WSGI
and ASGI paths of the asyncio model, measure the servers. `/sleep/` awaits (the loop serves
others meanwhile), where the WSGI app's blocks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from helloworld.params import CPU_MS, PAYLOAD_KB, SLEEP_MS, ParamError, from_query
from helloworld.workload import cpu_body, payload_body, slept_message

TEXT = b"text/plain; charset=utf-8"
HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", TEXT), (b"content-length", b"13")],
}
HELLO_BODY = {"type": "http.response.body", "body": b"Hello, world!"}


async def _respond(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", TEXT), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Route by path; returning at once from the lifespan scope says it is not supported."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/hello/":
        await send(HELLO_START)
        await send(HELLO_BODY)
        return
    query = scope["query_string"].decode("latin-1")
    try:
        if path == "/sleep/":
            ms = from_query(query, SLEEP_MS)
            await asyncio.sleep(ms / 1000)
            body = slept_message(ms)
        elif path == "/cpu/":
            body = cpu_body(from_query(query, CPU_MS))
        elif path == "/payload/":
            body = payload_body(from_query(query, PAYLOAD_KB))
        else:
            await _respond(send, 404, b"Not Found")
            return
    except ParamError as exc:
        await _respond(send, 400, str(exc).encode())
        return
    await _respond(send, 200, body)
