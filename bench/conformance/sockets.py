"""Run the corpus over sockets, against a server listening on 127.0.0.1:PORT that serves the echo
application (helloworld/conformance.py): a fresh connection per case, the case's bytes sent
whole, the answers read (bench/http1.py) until the server closes or a bound passes, and made
into the outcomes core.py's are, so that core.Result and core.table serve here too.

What the socket shows: each answer's status; whether the server closed after the last; for an
echo (marked X-Conformance-Echo), what the application received, as far as its interface
lets one compare it (`View`). A 100 answer is Continue, a 408 or no answer within the bound is
Incomplete, another answer is Refused (4xx, 5xx) or Answered (the server's own 2xx or 3xx),
a close without any answer Closed.

Each case's expectation is compared through the same view: over WSGI the header fields become
environ keys (HTTP_X_A: names with "_" are dropped from both sides, since X_A and X-A meet in
one key; repeated lines are joined by the server, with "," or ", ", compared alike; the framing
fields Content-Length and Transfer-Encoding are left out, as the server consumes the framing
and may rewrite them, while the body shows what it framed); the target is the raw one where the
server gives it (RAW_URI, REQUEST_URI), else PATH_INFO (percent-decoded) and QUERY_STRING. Over
ASGI the header lines keep their order, with lower-cased names; the target is `raw_path` (the
path as sent, without the authority of an absolute-form target) and `query_string`. An empty
query ("/a?") reads as none in both. A server that answers one request per connection (it
closed after a plain request) is expected to answer the first request and close: RFC 9112
§9.6 lets any server close after any answer.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import select
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from urllib.parse import unquote_to_bytes

import httptools

from bench.conformance import core
from bench.conformance.cases import (
    CONNECTION,
    HOST_PAIR,
    Case,
    Continue,
    Incomplete,
    Outcome,
    Refused,
    Served,
)
from bench.conformance.core import Result
from bench.http1 import MalformedResponse, Response, ResponseReader

BOUND = 2.0  # seconds a case may wait for its answers
LINGER = 0.3  # after the answers due: how long a close (or one more answer) is waited for
CONCURRENCY = 16
ECHO_MARK = (b"x-conformance-echo", b"1")
FEED = "socket"  # the one feed of a socket Result


@dataclass(frozen=True)
class Answered:
    """The server answered `status` (below 400, not 100) itself: not the application's echo."""

    status: int
    close: bool = False


@dataclass(frozen=True)
class Closed:
    """The server closed the connection without answering."""


@dataclass(frozen=True)
class Unreadable:
    """Bytes that are not an HTTP/1 response (or an echo that is not one)."""

    why: str


@dataclass(frozen=True)
class View:
    """What a server's interface lets one compare (see the module's docstring)."""

    interface: str  # "wsgi" or "asgi"
    target: str  # "raw" (as sent), "raw-path" (path as sent, and query), "decoded"
    per_connection: bool = False  # it closes after every answer

    def expected(self, case: Case) -> tuple[Outcome, ...]:
        """The case's expected outcomes as this view shows them."""
        hidden = self.hidden(case)
        outcomes = [self.served(o, hidden) if isinstance(o, Served) else o for o in case.expected]
        if not self.per_connection:
            return tuple(outcomes)
        kept: list[Outcome] = []
        for outcome in outcomes:  # the first final answer, then the close
            if isinstance(outcome, Served):
                outcome = replace(outcome, close=True)
            kept.append(outcome)
            if isinstance(outcome, Served | Refused):
                break
        return tuple(kept)

    def hidden(self, case: Case) -> frozenset[bytes]:
        """WSGI keys that names with "_" in the case's messages would meet in: not compared."""
        if self.interface != "wsgi":
            return frozenset()
        return frozenset(
            environ_key(name)
            for outcome in case.expected
            if isinstance(outcome, Served)
            for name, _ in outcome.headers
            if b"_" in name
        )

    def served(self, message: Served, hidden: frozenset[bytes] = frozenset()) -> Served:
        """An expected message as the application sees it through this view."""
        path, query = split_target(message.target)
        if self.target == "decoded":
            path = unquote_to_bytes(path)
        target = message.target if self.target == "raw" else with_query(path, query)
        if self.interface == "wsgi":
            pairs = [(environ_key(name), value) for name, value in message.headers]
            headers = wsgi_headers(pairs, hidden)
        else:
            headers = tuple((name.lower(), value) for name, value in message.headers)
        return replace(message, target=target, headers=headers)

    def echoed(self, report: dict, close: bool, hidden: frozenset[bytes]) -> Served:
        """What the echo application reported, as a Served in this view."""
        query = latin(report["query"])
        if self.interface == "wsgi":
            raw = report.get("raw_target")
            if self.target == "raw" and raw is not None:
                target = latin(raw)
            else:
                target = with_query(latin(report["path"]), query)
            pairs = [(latin(key), latin(value)) for key, value in report["headers"]]
            headers = wsgi_headers(pairs, hidden)
            version = report["version"].removeprefix("HTTP/")
        else:
            raw_path = report.get("raw_path")
            path = latin(raw_path) if raw_path is not None else report["path"].encode()
            target = with_query(path, query)
            headers = tuple((latin(name), latin(value)) for name, value in report["headers"])
            version = report["version"]
        return Served(
            report["method"], target, headers, latin(report["body"]), close, version=version
        )


def latin(text: str) -> bytes:
    return text.encode("latin-1")


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """Path and query of a request-target: origin-form, asterisk-form, or the path of an
    absolute-form one (its authority dropped)."""
    if b"://" in target and not target.startswith(b"/"):
        rest = target.partition(b"://")[2]
        slash = rest.find(b"/")
        target = rest[slash:] if slash >= 0 else b"/"
    path, _, query = target.partition(b"?")
    return path, query


def with_query(path: bytes, query: bytes) -> bytes:
    return path + b"?" + query if query else path


def environ_key(name: bytes) -> bytes:
    """The environ key of a header field (PEP 3333, CGI)."""
    key = name.upper().replace(b"-", b"_")
    return key if key in (b"CONTENT_TYPE", b"CONTENT_LENGTH") else b"HTTP_" + key


FRAMING_KEYS = frozenset((b"CONTENT_LENGTH", b"HTTP_TRANSFER_ENCODING"))
_COMMA = re.compile(rb",[ \t]*")
_COOKIE_SEPARATOR = re.compile(rb"[,;][ \t]*")  # cookies are joined with "; " (RFC 6265 §5.4)


def wsgi_headers(
    pairs: Sequence[tuple[bytes, bytes]], hidden: frozenset[bytes]
) -> tuple[tuple[bytes, bytes], ...]:
    """Environ keys and values, repeated keys joined, framing and hidden keys left out."""
    joined: dict[bytes, list[bytes]] = {}
    for key, value in pairs:
        if key not in FRAMING_KEYS and key not in hidden:
            joined.setdefault(key, []).append(value)
    return tuple(sorted((key, _joined(key, values)) for key, values in joined.items()))


def _joined(key: bytes, values: list[bytes]) -> bytes:
    separator = _COOKIE_SEPARATOR if key == b"HTTP_COOKIE" else _COMMA
    return separator.sub(b",", b",".join(values))


# one case over one connection -----------------------------------------------------------------


def finals(expected: Sequence[Outcome]) -> int:
    """The final answers a case waits for (interim 100s and a request cut short are none)."""
    return sum(isinstance(o, Served | Refused) for o in expected)


def exchange(
    port: int, data: bytes, wanted: int, wait_more: bool, bound: float
) -> tuple[list[Response], str]:
    """Send `data` on a new connection, read the answers: all the server sends until it closes
    ("closed"), until `bound` passes ("silent"), or until LINGER after `wanted` final answers
    unless `wait_more` ("open"). A malformed answer ends it ("malformed: why"), a 101 too
    (what follows it is another protocol's)."""
    reader = ResponseReader(head=data.startswith(b"HEAD "))
    responses: list[Response] = []
    deadline = time.monotonic() + bound
    with socket.create_connection(("127.0.0.1", port), timeout=bound) as sock:
        # refused mid-send: what matters is what it answered
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
            sock.sendall(data)
        while True:
            final = [r for r in responses if r.status >= 200]
            lingering = bool(responses) and len(final) >= wanted and not wait_more
            if final and not final[-1].keep_alive:
                lingering = False  # it said it closes: wait for the close itself
            left = deadline - time.monotonic()
            if lingering:
                left = min(left, LINGER)
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                return responses, "open" if lingering else "silent"
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                return responses, "closed"
            if not data:
                last = reader.eof()
                return responses + ([last] if last else []), "closed"
            try:
                responses += reader.feed(data)
            except MalformedResponse as exc:
                return responses, f"malformed: not an HTTP/1 answer (llhttp: {exc})"
            except httptools.HttpParserUpgrade:  # 101: it speaks another protocol from here
                return [*responses, Response(reader.partial_status or 101, b"", True)], "open"


def outcomes(
    responses: Sequence[Response], ending: str, view: View, hidden: frozenset[bytes]
) -> tuple[Outcome | Answered | Closed | Unreadable, ...]:
    """The answers and how the connection ended, as outcomes."""
    seen: list[Outcome | Answered | Closed | Unreadable] = []
    for index, response in enumerate(responses):
        close = index == len(responses) - 1 and ending == "closed"
        seen.append(outcome_of(response, close, view, hidden))
    if ending.startswith("malformed"):
        seen.append(Unreadable(ending.removeprefix("malformed: ")))
    elif ending == "silent" and not (seen and isinstance(seen[-1], Incomplete)):
        seen.append(Incomplete())
    elif ending == "closed" and not seen:
        seen.append(Closed())
    return tuple(seen)


def outcome_of(
    response: Response, close: bool, view: View, hidden: frozenset[bytes]
) -> Outcome | Answered | Unreadable:
    if response.status == 100:
        return Continue()
    if response.status == 408:
        return Incomplete()
    if ECHO_MARK not in ((name.lower(), value) for name, value in response.headers):
        if response.status >= 400:
            return Refused(response.status, close)
        return Answered(response.status, close)
    try:
        echo = response.header("X-Echo")
        report = json.loads(base64.b64decode(echo) if echo else response.body)
        return view.echoed(report, close, hidden)
    except (ValueError, KeyError, TypeError) as exc:
        return Unreadable(f"an echo that is not one: {exc}")


def run_case(port: int, case: Case, view: View, bound: float = BOUND) -> Result:
    """One case over a fresh connection: its Result, its expectation as `view` shows it."""
    expected = view.expected(case)
    wait_more = bool(expected) and isinstance(expected[-1], Incomplete)
    try:
        responses, ending = exchange(port, case.data, finals(expected), wait_more, bound)
    except OSError as exc:  # not even a connection
        responses, ending = [], f"malformed: cannot connect ({exc})"
    seen = outcomes(responses, ending, view, view.hidden(case))
    return Result(replace(case, expected=expected), {FEED: seen})


# a server: its view, the corpus, and whether it still serves ----------------------------------

PLAIN = Case(
    "a plain GET after the cases",
    "RFC 9112 §9.3 the server still serves",
    CONNECTION,
    b"GET /probe%20a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    (Served("GET", b"/probe%20a?x=1", (HOST_PAIR,)),),
)


class NotAnEcho(Exception):
    """The server does not answer the plain request with the echo application's report."""


def learn_view(port: int, bound: float = BOUND) -> View:
    """The server's interface, how it shows the target, and whether it keeps connections, from
    the echo of a plain GET; NotAnEcho when it gives none."""
    responses, ending = exchange(port, PLAIN.data, 1, False, bound)
    if not responses or ECHO_MARK not in [(n.lower(), v) for n, v in responses[0].headers]:
        said = f"status {responses[0].status}" if responses else ending
        raise NotAnEcho(f"a plain GET got no echo of helloworld.conformance ({said})")
    try:
        report = json.loads(responses[0].body)
        interface = report["interface"]
    except (ValueError, KeyError, TypeError) as exc:
        raise NotAnEcho(f"the echo of a plain GET is not one: {exc}") from None
    if interface == "wsgi":
        target = "raw" if report.get("raw_target") else "decoded"
    else:
        target = "raw-path" if report.get("raw_path") is not None else "decoded"
    return View(interface, target, per_connection=ending == "closed")


def run(
    port: int,
    cases: Sequence[Case],
    view: View,
    bound: float = BOUND,
    concurrency: int = CONCURRENCY,
) -> list[Result]:
    """Every case's Result, in the corpus's order, `concurrency` connections at a time. The
    cases that got no answer within the bound are run again (rerun_silent): with many
    connections at once, a server that serves few at a time may have kept one in its backlog."""
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda case: run_case(port, case, view, bound), cases))
    again = [index for index, result in enumerate(results) if silent(result)]
    rerun = rerun_silent(port, [cases[index] for index in again], view, bound)
    for index, result in zip(again, rerun, strict=True):
        results[index] = result
    return results


def silent(result: Result) -> bool:
    """Failed with nothing more said within the bound (or a 408)."""
    return not result.passed and isinstance(result.outcomes[FEED][-1], Incomplete)


def rerun_silent(port: int, cases: Sequence[Case], view: View, bound: float) -> list[Result]:
    """The cases again, all at once, and once their bytes are sent a plain GET behind them: a
    listening socket hands out its connections in order, so if the GET is answered, every case
    before it was taken in, and its silence is the server's own. If not, each case runs alone."""
    if not cases:
        return []
    with ThreadPoolExecutor(len(cases)) as pool:
        futures = [pool.submit(run_case, port, case, view, bound) for case in cases]
        time.sleep(min(0.3, bound / 4))  # the connections made, their bytes sent
        behind = run_case(port, PLAIN, view, bound / 2)
        results = [future.result() for future in futures]
    if behind.passed:
        return results
    return [
        run_case(port, case, view, bound) if silent(r) else r
        for case, r in zip(cases, results, strict=True)
    ]


def still_serves(port: int, view: View, bound: float = BOUND) -> bool:
    """Whether the plain GET is still served as it must be."""
    return run_case(port, PLAIN, view, bound).passed


def against_core(results: Sequence[Result], view: View) -> list[tuple[Result, tuple[Outcome, ...]]]:
    """The results whose outcome over the socket is not what the core makes of the same bytes
    fed whole (core.outcome), seen through `view`, with the core's: for a server on our core,
    a fault of its driver (or of this client), whatever the case expects."""
    found = []
    for result in results:
        case = result.case
        of_core = view.expected(replace(case, expected=core.outcome(case, [case.data])))
        if result.outcomes[FEED] != of_core:
            found.append((result, of_core))
    return found


def said(outcome: object) -> str:
    """An outcome in a line a reader can compare with another."""
    if isinstance(outcome, Served):
        headers = ", ".join(
            f"{n.decode('latin-1')[:40]}: {v[:40]!r}" for n, v in outcome.headers[:6]
        )
        headers += f" and {len(outcome.headers) - 6} more" if len(outcome.headers) > 6 else ""
        body = f", body {outcome.body[:40]!r}" + ("…" if len(outcome.body) > 40 else "")
        ending = "close" if outcome.close else "keep-alive"
        return (
            f"served {outcome.method} {outcome.target[:80]!r} HTTP/{outcome.version} "
            f"[{headers}]{body if outcome.body else ''}, {ending}"
        )
    if isinstance(outcome, Refused | Answered):
        return f"{outcome.status}, {'close' if outcome.close else 'kept open'}"
    if isinstance(outcome, Continue):
        return "100 Continue"
    if isinstance(outcome, Incomplete):
        return "waits (408 or no answer)"
    if isinstance(outcome, Closed):
        return "closed without an answer"
    if isinstance(outcome, Unreadable):
        return outcome.why
    return repr(outcome)


def said_all(outcomes: Sequence[object]) -> str:
    return "; ".join(said(outcome) for outcome in outcomes) or "nothing"
