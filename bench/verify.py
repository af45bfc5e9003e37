"""Verify: before a cell is timed, the server must answer the workload's request correctly."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Protocol

from bench.catalog import Workload


def fetch(
    host: str, port: int, path: str, close: bool = False, timeout: float = 10.0
) -> tuple[http.client.HTTPResponse, bytes]:
    """One GET: the response and its body. Raises OSError or HTTPException if no valid HTTP
    answer came (a socket operation waiting more than `timeout` seconds raises TimeoutError)."""
    headers = {"Connection": "close"} if close else {}
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def verify(
    host: str, port: int, workload: Workload, close: bool = False, timeout: float = 10.0
) -> str | None:
    """None if the answer is right; otherwise, the reason in one line."""
    try:
        response, body = fetch(host, port, workload.path, close, timeout)
    except (OSError, http.client.HTTPException) as exc:
        return f"no valid HTTP answer to GET {workload.path}: {type(exc).__name__}: {exc}"
    if response.status != workload.status:
        return (
            f"GET {workload.path} answered {response.status}, not {workload.status}: {body[:80]!r}"
        )
    if workload.body is not None and body != workload.body:
        return (
            f"GET {workload.path}: wrong body ({len(body)} bytes, starting {body[:40]!r}; "
            f"expected {len(workload.body)} bytes, starting {workload.body[:40]!r})"
        )
    length = response.getheader("Content-Length")
    if length is not None and int(length) != len(body):
        return f"GET {workload.path}: Content-Length {length} but {len(body)} bytes of body"
    if response.getheader("Content-Type") is None and workload.body is not None:
        return f"GET {workload.path}: no Content-Type"
    return None


class Addressed(Protocol):
    """A server reached at an address: started here or elsewhere."""

    host: str
    port: int


def answers(workload: Workload, close: bool = False) -> Callable[[Addressed], str | None]:
    """launched()'s check: the server answers `workload` right (None), or why not."""
    return lambda server: verify(server.host, server.port, workload, close)
