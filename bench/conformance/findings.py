"""Cases found by differential fuzzing (tests/test_differential.py: our core against h11 and
plain httptools), each minimised by hand from what hypothesis shrank, and kept here so that the
fault stays fixed once it is: the rule decides them, not what any of the three parsers did.
"""

from __future__ import annotations

from bench.conformance.cases import (
    FRAMING,
    HOST_PAIR,
    REQUEST_LINE,
    Case,
    Refused,
    Served,
    get,
    post,
)

CASES = [
    Case(
        "Transfer-Encoding chunked with a tab after it",
        "RFC 9110 §5.5 whitespace (SP or HTAB) after a field value is not part of it, so "
        "chunked is the final coding (RFC 9112 §6.1)",
        FRAMING,
        post(b"Transfer-Encoding: chunked\t", body=b"3\r\nabc\r\n0\r\n\r\n"),
        (Served("POST", b"/", (HOST_PAIR, (b"Transfer-Encoding", b"chunked")), b"abc"),),
        "llhttp takes a space there but refuses a tab (h11 takes both); found against h11",
    ),
    Case(
        "bare CR before the request line",
        "RFC 9112 §2.2 a bare CR MUST be treated as invalid or replaced with SP (then the line "
        "begins with SP); only CRLF is an empty line to skip",
        REQUEST_LINE,
        b"\r" + get(),
        (Refused(400),),
        "llhttp skips it as if it were an empty line, and so does ours; found against h11",
    ),
    Case(
        "bare CR and another byte before the request line, in one read",
        "RFC 9112 §2.2 a bare CR MUST be treated as invalid: refused when the byte after it is "
        "not LF, whether that byte comes in the same read or a later one",
        REQUEST_LINE,
        b"\rX",
        (Refused(400),),
        "found by feeding the core in other reads: whole, it holds the CR as the start of a "
        "request line and waits; a byte at a time, it refuses at X",
    ),
    Case(
        "bare CR in a read of its own, then a request",
        "RFC 9112 §2.2 a bare CR MUST be treated as invalid, however the reads cut the stream",
        REQUEST_LINE,
        b"\r" + get(target=b"/b"),
        (Refused(400),),
        "found by feeding the core in other reads: a CR that ends a read waits for its LF, but "
        "a whole request line and head in the next read skip that check and are served. The "
        "target /b is chosen so that the corpus's third seeded split (core.py) cuts after the "
        "CR; whole and byte by byte, the core refuses it",
    ),
]
