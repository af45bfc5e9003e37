"""A plain PEP 3333 WSGI application with the same routes as the Django project.

It exists so that benchmarks can measure the servers rather than a framework: routing is a dict
lookup, headers are precomputed, the query string is parsed only when present, and every
response is a one-element list of bytes with Content-Length and Content-Type set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from wsgiref.types import StartResponse, WSGIEnvironment

from helloworld.params import CPU_MS, PAYLOAD_KB, SLEEP_MS, Param, ParamError, from_query
from helloworld.workload import cpu_body, payload_body, sleep_body

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"

OK = "200 OK"
BAD_REQUEST = "400 Bad Request"
NOT_FOUND = "404 Not Found"

HELLO_BODY = b"Hello, world!"
HELLO_HEADERS = (("Content-Type", TEXT), ("Content-Length", str(len(HELLO_BODY))))
NOT_FOUND_BODY = b"Not Found"
NOT_FOUND_HEADERS = (("Content-Type", TEXT), ("Content-Length", str(len(NOT_FOUND_BODY))))

ECHO_KEYS = (
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SERVER_PROTOCOL",
)
READ_CHUNK = 64 * 1024

Handler = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]


def _respond(
    start_response: StartResponse, status: str, body: bytes, content_type: str = TEXT
) -> list[bytes]:
    """Send a response whose headers depend on the body (dynamic routes and errors)."""
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Answer with the cheapest possible response: constant body, copied constant headers."""
    # A fresh list each time: a server may append to the list it is given (PEP 3333 allows it).
    start_response(OK, list(HELLO_HEADERS))
    return [HELLO_BODY]


def not_found(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Answer unknown paths with a short plain-text 404."""
    start_response(NOT_FOUND, list(NOT_FOUND_HEADERS))
    return [NOT_FOUND_BODY]


def _workload(param: Param, work: Callable[[int], bytes]) -> Handler:
    """Build a route that reads ``param``, answers 400 if it is invalid, else runs ``work``."""

    def handler(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        try:
            value = from_query(environ.get("QUERY_STRING", ""), param)
        except ParamError as exc:
            return _respond(start_response, BAD_REQUEST, str(exc).encode())
        return _respond(start_response, OK, work(value))

    handler.__doc__ = f"Run {work.__name__} with the validated '{param.name}' parameter."
    return handler


def _read_body(environ: WSGIEnvironment) -> bytes:
    """Read the request body, honouring CONTENT_LENGTH; read to EOF when it is absent.

    Reads in sized chunks (never a bare read()) so it also works under wsgiref.validate and with
    servers whose read(n) may return short.
    """
    stream = environ["wsgi.input"]
    length_text = environ.get("CONTENT_LENGTH", "")
    chunks: list[bytes] = []
    if length_text:
        remaining = int(length_text)
        while remaining > 0:
            chunk = stream.read(min(remaining, READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    else:
        while chunk := stream.read(READ_CHUNK):
            chunks.append(chunk)
    return b"".join(chunks)


def echo(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Describe the request as JSON so tests can see exactly what the server put in environ.

    Keys absent from environ appear as null. PATH_INFO is left as the latin-1 decoded str that
    PEP 3333 prescribes, and the body is decoded as latin-1 so any bytes round-trip.
    """
    length_text = environ.get("CONTENT_LENGTH", "")
    if length_text and not (length_text.isascii() and length_text.isdigit()):
        return _respond(start_response, BAD_REQUEST, b"invalid CONTENT_LENGTH")
    info: dict[str, str | None] = {key: environ.get(key) for key in ECHO_KEYS}
    info.update((key, value) for key, value in sorted(environ.items()) if key.startswith("HTTP_"))
    info["body"] = _read_body(environ).decode("latin-1")
    return _respond(start_response, OK, json.dumps(info).encode("ascii"), JSON)


ROUTES: dict[str, Handler] = {
    "/hello/": hello,
    "/sleep/": _workload(SLEEP_MS, sleep_body),
    "/cpu/": _workload(CPU_MS, cpu_body),
    "/payload/": _workload(PAYLOAD_KB, payload_body),
    "/echo": echo,
    "/echo/": echo,
}


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Route on PATH_INFO: an exact dict lookup, plus the /echo/ prefix for arbitrary subpaths."""
    path = environ.get("PATH_INFO", "")
    handler = ROUTES.get(path)
    if handler is None:
        handler = echo if path.startswith("/echo/") else not_found
    return handler(environ, start_response)


application = app
