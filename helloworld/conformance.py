"""The echo applications of the conformance corpus over sockets (bench/conformance/sockets.py):
at every path, the answer reports what the application received, as JSON.

`app` is WSGI, `asgi` its ASGI twin. Each reports the method, the request target as far as its
interface shows it, the header fields, the version and the whole body, and no more: a WSGI
environ holds header names normalised (`X-A` and `x_a` both become HTTP_X_A, repeated lines
joined by the server), its PATH_INFO percent-decoded, and the raw target only where the server
adds one (gunicorn's RAW_URI, waitress's REQUEST_URI); an ASGI scope holds the lines in order
with lower-cased names, and the path as sent in `raw_path` (without the query). The report is
the body; in answer to HEAD, whose answer has none, it is base64 in the X-Echo header instead.
Every answer carries `X-Conformance-Echo: 1`, so that the client tells it from an error page
the server wrote itself.

Strings are latin-1 code points for bytes (PEP 3333's own convention; ASGI's bytes are decoded
so), so every byte round-trips through JSON; ASGI's `path` is already UTF-8-decoded text.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

MARK = ("X-Conformance-Echo", "1")
READ_CHUNK = 64 * 1024
RAW_TARGET_KEYS = ("RAW_URI", "REQUEST_URI")  # gunicorn's, then waitress's (and CGI's)


def _head(report: dict[str, Any]) -> tuple[bytes, list[tuple[str, str]]]:
    """The body and headers of the answer carrying `report`; in answer to HEAD, the report in
    the X-Echo header and an empty body (Content-Length: 0), so that no server need strip it."""
    body = json.dumps(report).encode("ascii")
    headers = [("Content-Type", "application/json"), MARK]
    if report["method"] == "HEAD":
        headers.append(("X-Echo", base64.b64encode(body).decode("ascii")))
        body = b""
    return body, [*headers, ("Content-Length", str(len(body)))]


def _wsgi_body(environ: WSGIEnvironment) -> bytes:
    """The whole body: CONTENT_LENGTH bytes, or to the end where the server says the input ends
    (wsgi.input_terminated), else none (PEP 3333: never read past what is declared)."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH", "")
    if length.isdigit():
        remaining, chunks = int(length), []
        while remaining > 0 and (chunk := stream.read(min(remaining, READ_CHUNK))):
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    if environ.get("wsgi.input_terminated"):
        return b"".join(iter(lambda: stream.read(READ_CHUNK), b""))
    return b""


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """WSGI: the environ's view of the request (header keys as the environ has them)."""
    raw = next((environ[key] for key in RAW_TARGET_KEYS if environ.get(key)), None)
    report = {
        "interface": "wsgi",
        "method": environ["REQUEST_METHOD"],
        "raw_target": raw,
        "path": environ.get("PATH_INFO", ""),
        "query": environ.get("QUERY_STRING", ""),
        "version": environ.get("SERVER_PROTOCOL", ""),
        "headers": sorted(
            [key, value]
            for key, value in environ.items()
            if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")
        ),
        "body": _wsgi_body(environ).decode("latin-1"),
    }
    body, headers = _head(report)
    start_response("200 OK", headers)
    return [body]


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI: the scope's view of the request (header lines in order, as the scope has them);
    the lifespan scope is declined by returning."""
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    raw_path = scope.get("raw_path")
    report = {
        "interface": "asgi",
        "method": scope["method"],
        "raw_path": None if raw_path is None else raw_path.decode("latin-1"),
        "path": scope["path"],
        "query": scope.get("query_string", b"").decode("latin-1"),
        "version": scope.get("http_version", ""),
        "headers": [
            [name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]
        ],
        "body": b"".join(chunks).decode("latin-1"),
    }
    body, headers = _head(report)
    encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    await send({"type": "http.response.start", "status": 200, "headers": encoded})
    await send({"type": "http.response.body", "body": body})
