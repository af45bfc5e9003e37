"""Verify: before a cell is timed, the server must answer the workload's request correctly."""

from __future__ import annotations

import http.client

from bench.plan import Workload


def verify(host: str, port: int, workload: Workload, close: bool = False) -> str | None:
    """None if the answer is right; otherwise, the reason in one line."""
    headers = {"Connection": "close"} if close else {}
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", workload.path, headers=headers)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"no valid HTTP answer to GET {workload.path}: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if response.status != 200:
        return f"GET {workload.path} answered {response.status}, not 200: {body[:80]!r}"
    if body != workload.body:
        return (
            f"GET {workload.path}: wrong body ({len(body)} bytes, starting {body[:40]!r}; "
            f"expected {len(workload.body)} bytes, starting {workload.body[:40]!r})"
        )
    length = response.getheader("Content-Length")
    if length is not None and int(length) != len(body):
        return f"GET {workload.path}: Content-Length {length} but {len(body)} bytes of body"
    if response.getheader("Content-Type") is None:
        return f"GET {workload.path}: no Content-Type"
    return None
