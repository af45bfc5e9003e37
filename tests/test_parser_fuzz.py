"""Property-based fuzzing of the protocol core (servers/parser.py), without sockets.

Whatever bytes arrive, cut into reads anywhere: the parser returns the same events for every
cut; each request it returns is well formed and serialises back to an equal request; a refusal
is an HTTP error status, comes last, and nothing follows it. It never raises anything else and
never hangs. Valid requests from the grammar (tests/request_grammar.py) must come out exactly as
they went in. How many examples: the hypothesis profile (tests/conftest.py); `nox -s fuzz` runs
the deep one.
"""

from __future__ import annotations

import contextlib
import re
import signal
from collections.abc import Iterator, Sequence

import hypothesis
from hypothesis import given
from hypothesis import strategies as st

from servers.parser import Event, ExpectContinue, Limits, ProtocolError, Request, RequestParser
from servers.response import LAST_CHUNK, chunk
from tests.request_grammar import ValidRequest, mutated, pipelines, splits

HANG_SECONDS = 10.0  # an example takes milliseconds: this only turns a hang into a failure
ERROR_STATUSES = {400, 413, 414, 431, 501, 505}
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
FORBIDDEN_IN_VALUES = re.compile(rb"[\x00\r\n]")


class Hang(Exception):
    """The parser took far longer than any input of this size can need."""


@contextlib.contextmanager
def hang_guard(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Raise Hang in this (the main) thread if the block runs longer than `seconds`."""

    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"parsing took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def parse(data: bytes, cuts: Sequence[int] = ()) -> list[Event]:
    """Feed `data` as separate reads cut at `cuts` (as a driver would), then the end of stream."""
    parser = RequestParser()
    events: list[Event] = []
    with hang_guard():
        for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            if end > start:  # drivers never feed an empty read: that is the end of stream
                events += parser.feed(data[start:end])
        events += parser.feed_eof()
    return events


def fields(request: Request) -> tuple:
    return (
        request.method,
        request.target,
        request.path,
        request.query,
        request.http_version,
        request.headers,
        request.body,
        request.keep_alive,
    )


def outcome(events: list[Event]) -> list:
    """The events in a form to compare across cuts: requests' fields and errors' statuses."""
    return [
        fields(event)
        if isinstance(event, Request)
        else event.status
        if isinstance(event, ProtocolError)
        else "100-continue"
        for event in events
    ]


def serialise(request: Request) -> bytes:
    """The request as a client would send it again: its line, its fields, and its body framed as
    its fields say (chunked, or as it is)."""
    line = b"%s %s HTTP/%s" % (
        request.method.encode(),
        request.target,
        request.http_version.encode(),
    )
    lines = [line, *(name + b": " + value for name, value in request.headers)]
    body = request.body
    if any(name.lower() == b"transfer-encoding" for name, _ in request.headers):
        body = (chunk(body) if body else b"") + LAST_CHUNK
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def assert_well_formed(request: Request) -> None:
    """What no hostile input may smuggle past the core into a request."""
    assert request.http_version in ("1.0", "1.1")
    assert TOKEN.fullmatch(request.method.encode())
    named: dict[bytes, list[bytes]] = {}
    for name, value in request.headers:
        assert TOKEN.fullmatch(name), name
        assert not FORBIDDEN_IN_VALUES.search(value) and value[:1] not in (b" ", b"\t"), value
        named.setdefault(name.lower(), []).append(value)
    hosts = named.get(b"host", [])
    assert len(hosts) <= 1 and (hosts or request.http_version == "1.0")
    lengths, codings = named.get(b"content-length", []), named.get(b"transfer-encoding", [])
    assert not (lengths and codings), "Content-Length and Transfer-Encoding both"
    if codings:
        assert request.http_version == "1.1"
        assert [c.strip().lower() for c in b",".join(codings).split(b",") if c.strip()] == [
            b"chunked"
        ]
    if lengths:
        assert len(lengths) == 1 and int(lengths[0]) == len(request.body)
    assert not request.body or lengths or codings
    assert request.path[:1] == b"/" or (request.path == b"*" and request.method == "OPTIONS")
    assert len(request.body) <= Limits().max_body_bytes


def assert_sound(data: bytes, cuts: Sequence[int]) -> list[Event]:
    """The properties every byte stream must have; returns its events."""
    events = parse(data, cuts)
    assert outcome(events) == outcome(parse(data)), "the cuts changed the outcome"
    errors = [event for event in events if isinstance(event, ProtocolError)]
    assert len(errors) <= 1 and (not errors or events[-1] is errors[0])
    assert all(error.status in ERROR_STATUSES for error in errors), errors
    served = sum(isinstance(event, Request) for event in events)
    hypothesis.event(f"refused with {errors[0].status}" if errors else f"{served} request(s)")
    for request in (event for event in events if isinstance(event, Request)):
        assert_well_formed(request)
        again = [event for event in parse(serialise(request)) if isinstance(event, Request)]
        assert [fields(r) for r in again] == [fields(request)], serialise(request)
    return events


def with_cuts(data: st.SearchStrategy[bytes]) -> st.SearchStrategy[tuple[bytes, list[int]]]:
    return data.flatmap(lambda stream: st.tuples(st.just(stream), splits(len(stream))))


@given(with_cuts(st.binary(max_size=2048)))
def test_any_bytes_in_any_cuts(stream: tuple[bytes, list[int]]) -> None:
    assert_sound(*stream)


@given(with_cuts(mutated()))
def test_mutated_requests_in_any_cuts(stream: tuple[bytes, list[int]]) -> None:
    assert_sound(*stream)


@given(pipelines().flatmap(lambda sent: st.tuples(st.just(sent), splits(len(wire(sent))))))
def test_valid_requests_come_out_as_they_went_in(sent_and_cuts: tuple) -> None:
    sent, cuts = sent_and_cuts
    events = assert_sound(wire(sent), cuts)
    requests = [event for event in events if not isinstance(event, ExpectContinue)]
    assert all(isinstance(request, Request) for request in requests), requests
    assert [
        (r.method, r.target, r.http_version, r.headers, r.body, r.keep_alive) for r in requests
    ] == [(s.method, s.target, s.version, s.headers, s.body, s.version == "1.1") for s in sent]


def wire(sent: list[ValidRequest]) -> bytes:
    return b"".join(request.wire for request in sent)
