"""A conformance corpus for HTTP/1.1 request parsing, written from RFC 9112 and RFC 9110, and its
in-process runner (`core.run`), so that the protocol core is measured for correctness beside the
harness's measures of speed.

`CASES` is the whole corpus, class by class: the request line, header fields, framing,
connection handling, and the exact messages an application must receive.
"""

from __future__ import annotations

from bench.conformance import connection, fields, findings, framing, messages, request_line
from bench.conformance.cases import CLASSES, Case, Continue, Incomplete, Refused, Served

CASES: tuple[Case, ...] = (
    *request_line.CASES,
    *fields.CASES,
    *framing.CASES,
    *connection.CASES,
    *messages.CASES,
    *findings.CASES,
)

__all__ = ["CASES", "CLASSES", "Case", "Continue", "Incomplete", "Refused", "Served"]
