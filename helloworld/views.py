"""Django views: hello world plus the sleep / CPU / payload workloads, sync and async.

Parameter rules and response bodies come from helloworld.params and helloworld.workload, so these
views answer exactly like helloworld.plain; only Django's own overhead is added.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from helloworld.params import CPU_MS, PAYLOAD_KB, SLEEP_MS, Param, ParamError, from_query
from helloworld.workload import cpu_body, payload_body, sleep_body, slept_message

TEXT = "text/plain; charset=utf-8"
HELLO_BODY = b"Hello, world!"


def _text(body: bytes, status: int = 200) -> HttpResponse:
    """Plain-text response with Content-Length set here, not left to CommonMiddleware."""
    response = HttpResponse(body, content_type=TEXT, status=status)
    response.headers["Content-Length"] = str(len(body))
    return response


def _param(request: HttpRequest, param: Param) -> int:
    """Read a workload parameter with the rules shared with the plain WSGI app."""
    return from_query(request.META.get("QUERY_STRING", ""), param)


def hello(request: HttpRequest) -> HttpResponse:
    """Say hello: the baseline request, costing only routing and middleware."""
    return _text(HELLO_BODY)


def _workload(request: HttpRequest, param: Param, work: Callable[[int], bytes]) -> HttpResponse:
    """Read `param` with the shared rules (400 if invalid), then answer with `work(value)`."""
    try:
        value = _param(request, param)
    except ParamError as exc:
        return _text(str(exc).encode(), 400)
    return _text(work(value))


def sleep(request: HttpRequest) -> HttpResponse:
    """Block the worker for ?ms=N milliseconds (I/O-bound work)."""
    return _workload(request, SLEEP_MS, sleep_body)


def cpu(request: HttpRequest) -> HttpResponse:
    """Burn ?ms=N milliseconds of CPU (CPU-bound work, holds the GIL)."""
    return _workload(request, CPU_MS, cpu_body)


def payload(request: HttpRequest) -> HttpResponse:
    """Return ?kb=N KiB of bytes (response-size-bound work)."""
    return _workload(request, PAYLOAD_KB, payload_body)


async def async_hello(request: HttpRequest) -> HttpResponse:
    """Hello world as a coroutine, to compare ASGI against WSGI on the same work."""
    return _text(HELLO_BODY)


async def async_sleep(request: HttpRequest) -> HttpResponse:
    """Await ?ms=N milliseconds without blocking the event loop."""
    try:
        ms = _param(request, SLEEP_MS)
    except ParamError as exc:
        return _text(str(exc).encode(), 400)
    await asyncio.sleep(ms / 1000)
    return _text(slept_message(ms))


def echo(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Describe the request as Django saw it, so tests can check what the server passed on."""
    seen = {
        "method": request.method,
        "path": request.path,
        "query": request.META.get("QUERY_STRING", ""),
        "content_type": request.content_type,
        "body": request.body.decode("latin-1"),
        "headers": dict(request.headers),
    }
    body = json.dumps(seen).encode()
    response = HttpResponse(body, content_type="application/json")
    response.headers["Content-Length"] = str(len(body))
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Short plain-text 404, matching the plain app (Django's default renders HTML)."""
    return _text(b"Not Found", 404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Short plain-text 400, e.g. for a Host header outside ALLOWED_HOSTS."""
    return _text(b"Bad Request", 400)


def server_error(request: HttpRequest) -> HttpResponse:
    """Short plain-text 500; the traceback goes to stderr through LOGGING."""
    return _text(b"Internal Server Error", 500)
