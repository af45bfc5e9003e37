"""Differential parsing: the same bytes fed to our core (servers/parser.py), to h11 and to plain
httptools (llhttp with no checks of ours), each outcome normalised to what a server would hand
its application, and every disagreement with ours either explained by a rule or reported.

An outcome is the messages in order (method, target, header fields with names lower-cased and
values as the interface gives them, body, keep-alive), the byte offset where each ends, and how
the stream ends: refused (with a status class where the library gives one), waiting for more
bytes, clean, closed (the last message closes the connection) or switched (llhttp stopped at a
protocol switch). Nothing after a message that closes the connection is read, as no server
would read it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import h11
import httptools
import pytest

from servers.parser import ExpectContinue, Limits, ProtocolError, Request, RequestParser

CLEAN = "clean"  # every byte belongs to a complete request (or to empty lines between them)
WAITING = "waiting"  # a request is under way: the parser waits for more bytes
CLOSED = "closed"  # the last message closes the connection: nothing after it is read
SWITCHED = "switched"  # llhttp stopped at a protocol switch: the rest is not HTTP to it
REFUSED = "refused"


@dataclass(frozen=True)
class Message:
    """What the application receives for one request."""

    method: bytes
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]  # names lower-cased, values as handed over
    body: bytes
    keep_alive: bool


@dataclass(frozen=True)
class Outcome:
    """One parser's reading of a whole stream."""

    parser: str
    messages: tuple[Message, ...]
    ends: tuple[int | None, ...]  # the offset just past each message, None where unknown
    ending: str
    status: int | None = None  # of a refusal, where the library gives one
    reason: str = ""  # of a refusal, as the library words it

    @property
    def status_class(self) -> str:
        return f"{self.status // 100}xx" if self.status else ""

    def closed_after(self, index: int) -> Outcome:
        """This outcome cut after message `index`, which closes the connection."""
        return Outcome(
            self.parser, self.messages[: index + 1], self.ends[: index + 1], CLOSED, None, ""
        )

    def brief(self) -> str:
        """One line per message and one for the ending, for a failure message."""
        lines = [
            f"  {self.parser:<9} {m.method!r} {m.target!r} {list(m.headers)!r} body={m.body!r}"
            f" keep_alive={m.keep_alive} end={end}"
            for m, end in zip(self.messages, self.ends, strict=True)
        ]
        ending = self.ending + (f" {self.status}" if self.status else "")
        lines.append(f"  {self.parser:<9} {ending} {self.reason}".rstrip())
        return "\n".join(lines)


def _closing(outcome: Outcome) -> Outcome:
    """Nothing after the first message that closes the connection is read."""
    for index, message in enumerate(outcome.messages):
        if not message.keep_alive:
            return outcome.closed_after(index)
    return outcome


# Our core --------------------------------------------------------------------------------------


def ours(data: bytes, cuts: Sequence[int] | None = None) -> Outcome:
    """Our core fed `data` in the reads `cuts` marks, or a byte at a time (None), which tells
    where each request ends: its event comes with the read of its last byte."""
    parser = RequestParser()
    if cuts is None:
        bounds = [(i, i + 1) for i in range(len(data))]
    else:
        points = sorted({c for c in cuts if 0 < c < len(data)})
        bounds = list(zip([0, *points], [*points, len(data)], strict=True))
    messages: list[Message] = []
    ends: list[int | None] = []
    for start, end in bounds:
        if start == end:  # a driver never feeds an empty read: that is the end of the stream
            continue
        for event in parser.feed(data[start:end]):
            if isinstance(event, ProtocolError):
                outcome = Outcome(
                    "ours", (*messages,), (*ends,), REFUSED, event.status, event.reason
                )
                return _closing(outcome)
            if isinstance(event, ExpectContinue):
                continue
            messages.append(_ours_message(event))
            ends.append(end if cuts is None else None)
    ending = WAITING if parser.in_request else CLEAN
    return _closing(Outcome("ours", (*messages,), (*ends,), ending))


def _ours_message(request: Request) -> Message:
    return Message(
        request.method.encode(),
        request.target,
        tuple((name.lower(), value) for name, value in request.headers),
        request.body,
        request.keep_alive,
    )


# h11 -------------------------------------------------------------------------------------------


def with_h11(data: bytes) -> Outcome:
    """h11 as a server uses it: each request read whole, answered (200, or 501 to CONNECT, so
    that no tunnel opens), then the next cycle; its receive buffer says where a request ended."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=Limits().max_header_bytes)
    if data:  # an empty read is the end of the stream to h11
        conn.receive_data(data)
    messages: list[Message] = []
    ends: list[int | None] = []
    request: h11.Request | None = None
    body: list[bytes] = []
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as error:
            outcome = Outcome(
                "h11", (*messages,), (*ends,), REFUSED, error.error_status_hint, str(error)
            )
            return _closing(outcome)
        if isinstance(event, h11.Request):
            request, body = event, []
        elif isinstance(event, h11.Data):
            body.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            status = 501 if request.method == b"CONNECT" else 200
            conn.send(h11.Response(status_code=status, headers=[(b"Content-Length", b"0")]))
            conn.send(h11.EndOfMessage())
            keep_alive = conn.our_state is not h11.MUST_CLOSE
            headers = tuple((bytes(name), bytes(value)) for name, value in request.headers)
            messages.append(
                Message(request.method, request.target, headers, b"".join(body), keep_alive)
            )
            ends.append(len(data) - len(conn.trailing_data[0]))
            if not keep_alive:
                return Outcome("h11", (*messages,), (*ends,), CLOSED)
            conn.start_next_cycle()
            request = None
        else:  # NEED_DATA: h11 read all it could
            pending = conn.their_state is not h11.IDLE or conn.trailing_data[0]
            return Outcome("h11", (*messages,), (*ends,), WAITING if pending else CLEAN)


# Plain httptools (llhttp) ----------------------------------------------------------------------


class _Llhttp:
    """httptools' callbacks, collecting messages as llhttp hands them over; trailer fields
    (header callbacks after the head) are dropped, as the other two drop them."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.messages: list[Message] = []
        self.ends: list[int | None] = []
        self.offset = 0  # of the end of the byte being fed
        self.inside = False
        self.in_head = False
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []

    def on_message_begin(self) -> None:
        self.inside = self.in_head = True
        self._reset()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.in_head:
            self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.in_head = False

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.inside = False
        parser = self.parser
        message = Message(
            parser.get_method(),
            self.url,
            tuple(self.headers),
            b"".join(self.body),
            parser.should_keep_alive(),
        )
        self.messages.append(message)
        self.ends.append(self.offset)


def with_httptools(data: bytes) -> Outcome:
    """httptools fed a byte at a time (llhttp is a streaming parser: a message completes with
    the read of its last byte, which tells its end offset)."""
    reader = _Llhttp()
    ending, reason = CLEAN, ""
    try:
        for offset in range(len(data)):
            reader.offset = offset + 1
            reader.parser.feed_data(data[offset : offset + 1])
    except httptools.HttpParserUpgrade:
        ending = SWITCHED
    except httptools.HttpParserError as error:  # llhttp gives no status: the server picks one
        ending, reason = REFUSED, str(error.args[0] if error.args else error)
    else:
        ending = WAITING if reader.inside else CLEAN
    return _closing(
        Outcome("httptools", (*reader.messages,), (*reader.ends,), ending, None, reason)
    )


PEERS = {"h11": with_h11, "httptools": with_httptools}


# Comparison ------------------------------------------------------------------------------------

MESSAGE = "message"  # both hand the application message i, and it differs
BOUNDARY = "boundary"  # the same message i, ending at different offsets: request smuggling
OURS_STOPS = "ours stops"  # the peer hands over message i; ours refuses, waits or ends there
PEER_STOPS = "peer stops"  # ours hands over message i; the peer refuses, waits or ends there
ENDING = "ending"  # the same messages, then the streams end differently
SPLIT = "split"  # ours read the stream otherwise in other reads (IN_READS: its verdict's name)
IN_READS = "ours in reads"


@dataclass(frozen=True)
class Divergence:
    """Where ours and a peer first part on one stream; what follows it is moot (a server would
    have answered differently there already)."""

    data: bytes
    ours: Outcome
    peer: Outcome
    index: int  # of the message at which they part
    kind: str

    @property
    def start(self) -> int:
        """Offset of the request at which they part (both agreed on the ones before it)."""
        return (self.ours.ends[self.index - 1] or 0) if self.index else 0

    @property
    def rest(self) -> bytes:
        """The stream from the request at which they part."""
        return self.data[self.start :]

    @cached_property
    def sent(self) -> Sent:
        """That request as its bytes stand."""
        return Sent.of(self.rest)

    @property
    def where(self) -> tuple[int, str, frozenset[str]]:
        """Where they part, and in what (to tell whether a normaliser moved it)."""
        return (
            self.index,
            self.kind,
            frozenset(self.fields_differ() if self.kind == MESSAGE else ()),
        )

    def fields_differ(self) -> set[str]:
        """Which fields of message `index` differ (for MESSAGE)."""
        a, b = self.ours.messages[self.index], self.peer.messages[self.index]
        names = ("method", "target", "headers", "body", "keep_alive")
        return {name for name in names if getattr(a, name) != getattr(b, name)}

    def describe(self) -> str:
        return "\n".join(
            [
                f"{self.kind} at message {self.index}: {self.data!r}",
                self.ours.brief(),
                self.peer.brief(),
            ]
        )


def _same_ending(ours: Outcome, peer: Outcome) -> bool:
    if ours.ending != peer.ending:
        return False
    if ours.ending == REFUSED and ours.status and peer.status:
        return ours.status_class == peer.status_class
    return True


def diverge(data: bytes, ours: Outcome, peer: Outcome) -> Divergence | None:
    """The first point at which the two outcomes part, or None if they agree."""
    for index, (a, b) in enumerate(zip(ours.messages, peer.messages, strict=False)):
        if a != b:
            return Divergence(data, ours, peer, index, MESSAGE)
        if (
            None not in (ours.ends[index], peer.ends[index])
            and ours.ends[index] != peer.ends[index]
        ):
            return Divergence(data, ours, peer, index, BOUNDARY)
    index = min(len(ours.messages), len(peer.messages))
    if len(peer.messages) > index:
        return Divergence(data, ours, peer, index, OURS_STOPS)
    if len(ours.messages) > index:
        return Divergence(data, ours, peer, index, PEER_STOPS)
    if not _same_ending(ours, peer):
        return Divergence(data, ours, peer, index, ENDING)
    return None


# Verdicts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One peer's reading against ours: agreed, explained (by the names of the normalisers and
    the explanation that account for it), or a finding (an unexplained divergence)."""

    peer: str
    divergence: Divergence | None = None
    explained: tuple[str, ...] = ()

    @property
    def finding(self) -> bool:
        return self.divergence is not None and not self.explained


def _without_ends(outcome: Outcome) -> Outcome:
    return Outcome(outcome.parser, outcome.messages, (), outcome.ending, outcome.status, "")


def split_verdict(data: bytes, cuts: Sequence[int], bytewise: Outcome) -> Verdict:
    """Ours must read the stream alike whole, a byte at a time and in the reads `cuts` marks
    (a known fault of the core's in the table aside)."""
    expected = _without_ends(bytewise)
    for reads in ([], cuts):
        other = ours(data, reads)
        if _without_ends(other) != expected:
            common = 0  # the messages both readings hand over alike, before they part
            for a, b in zip(bytewise.messages, other.messages, strict=False):
                if a != b:
                    break
                common += 1
            divergence = Divergence(data, bytewise, other, common, SPLIT)
            for explanation in EXPLANATIONS:
                if SPLIT in explanation.kinds and explanation.applies(divergence):
                    return Verdict(IN_READS, divergence, (explanation.name,))
            return Verdict(IN_READS, divergence)
    return Verdict(IN_READS)


def compare(data: bytes, cuts: Sequence[int] = ()) -> list[Verdict]:
    """Every verdict on one stream: ours across reads, then ours against each peer."""
    bytewise = ours(data)
    verdicts = [split_verdict(data, cuts, bytewise)]
    for read in PEERS.values():
        verdicts.append(classify(data, bytewise, read(data)))
    return verdicts


# What explains a divergence --------------------------------------------------------------------


@dataclass(frozen=True)
class Normaliser:
    """A systematic difference in how a peer hands values over, not in what it reads: both
    outcomes are compared again with `fix` applied to every message."""

    name: str
    rule: str
    peers: tuple[str, ...]
    fix: Callable[[Message], Message]
    wrong: str  # who deviates from the RFC: h11, llhttp, or neither (a way of handing over)


@dataclass(frozen=True)
class Explanation:
    """A class of divergence decided by a rule: `applies` says whether a divergence (of one of
    `kinds`, with `peer`) is of it. `fault` names the corpus case where ours is the one wrong."""

    name: str
    rule: str
    peers: tuple[str, ...]
    kinds: tuple[str, ...]
    applies: Callable[[Divergence], bool]
    fault: str = ""
    # who deviates from the RFC: h11, llhttp, ours (a fault), or neither (the RFC leaves the
    # choice open, or leaves the check to the server above the parser)
    wrong: str = "neither"


def _normalised(outcome: Outcome, fix: Callable[[Message], Message]) -> Outcome:
    messages = tuple(fix(message) for message in outcome.messages)
    return Outcome(
        outcome.parser, messages, outcome.ends, outcome.ending, outcome.status, outcome.reason
    )


def classify(data: bytes, mine: Outcome, peer: Outcome) -> Verdict:
    """Agreed, explained, or a finding: the peer's normalisers first, then the first explanation
    that applies to where the two still part."""
    divergence = diverge(data, mine, peer)
    if divergence is None:
        return Verdict(peer.parser)
    original, used = (mine, peer), []
    for normaliser in NORMALISERS:
        if peer.parser in normaliser.peers:
            mine, peer = _normalised(mine, normaliser.fix), _normalised(peer, normaliser.fix)
            moved = diverge(data, mine, peer)
            if moved is None or moved.where != divergence.where:
                used.append(normaliser.name)  # it accounts for where they parted
                divergence = moved
            if divergence is None:
                break
    if divergence is None:
        return Verdict(peer.parser, diverge(data, *original), tuple(used))
    for explanation in EXPLANATIONS:
        if (
            peer.parser in explanation.peers
            and divergence.kind in explanation.kinds
            and explanation.applies(divergence)
        ):
            return Verdict(peer.parser, divergence, (*used, explanation.name))
    return Verdict(peer.parser, divergence)


def _stripped_values(message: Message) -> Message:
    headers = tuple((name, value.rstrip(b" \t")) for name, value in message.headers)
    return Message(message.method, message.target, headers, message.body, message.keep_alive)


def _h11_framing_values(message: Message) -> Message:
    headers = []
    for name, value in message.headers:
        if name == b"transfer-encoding":
            value = value.lower()
        elif name == b"content-length":
            value = value.split(b",")[0].strip()
        headers.append((name, value))
    return Message(message.method, message.target, tuple(headers), message.body, message.keep_alive)


def _host_from_target(message: Message) -> Message:
    authority = re.match(rb"(?i:https?)://([^/?#]+)", message.target)
    if authority is None:
        return message
    headers = (
        *(field for field in message.headers if field[0] != b"host"),
        (b"host", authority[1]),
    )
    return Message(message.method, message.target, headers, message.body, message.keep_alive)


NORMALISERS = (
    Normaliser(
        "llhttp keeps whitespace after a value",
        "RFC 9110 §5.5: whitespace before and after a field value is not part of it; llhttp "
        "hands the trailing part on (llhttp is the one wrong; ours strips it)",
        ("httptools",),
        _stripped_values,
        wrong="llhttp",
    ),
    Normaliser(
        "h11 rewrites framing values",
        "RFC 9110 §8.6 and RFC 9112 §7: h11 hands Transfer-Encoding on lower-cased and "
        "Content-Length as its one number; the same values, spelt another way",
        ("h11",),
        _h11_framing_values,
        wrong="neither",
    ),
    Normaliser(
        "absolute-form authority replaces Host",
        "RFC 9112 §3.2.2: a server MUST take the host from an absolute-form target and ignore "
        "any Host field (ours hands the authority on as Host; the peers leave it to the server)",
        ("h11", "httptools"),
        _host_from_target,
        wrong="neither",
    ),
)


# The request at which two parsers part, read loosely: enough to tell which rule it breaks ------

TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN = re.compile(TOKEN)
_VALUE = rb"[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*"  # field-content, RFC 9110 §5.5
_FIELD_LINE = re.compile(rb"%s:[ \t]*(?:%s)?[ \t]*" % (TOKEN, _VALUE))
_REQUEST_LINE = re.compile(rb"(%s) ([^\x00-\x20\x7f]+) HTTP/([0-9])\.([0-9])" % TOKEN)
_VERSION_PREFIX = rb"(?:H|HT|HTT|HTTP|HTTP/|HTTP/[0-9]|HTTP/[0-9]\.|HTTP/[0-9]\.[0-9]\r?)?"
_LINE_PREFIX = re.compile(  # a request line yet to end
    rb"(?:%s(?: (?:[^\x00-\x20\x7f]+(?: %s)?)?)?)?" % (TOKEN, _VERSION_PREFIX)
)
_NAME_SO_FAR = re.compile(TOKEN + rb"?|\r|[ \t].*|" + TOKEN + rb":.*", re.S)  # a line yet to end
_SECTION_END = re.compile(rb"\n\r?\n")  # the end of a head or trailer section, as h11 finds it
_HOST_BYTES = re.compile(rb"[A-Za-z0-9\-._~!$&'()*+,;=%:\[\]]*")  # RFC 3986 §3.2.2 and a port
_URI_BYTES = re.compile(rb"[A-Za-z0-9\-._~!$&'()*+,;=:@/?%\[\]]*")  # RFC 3986 §2
_ABSOLUTE = re.compile(rb"(?i:https?)://[A-Za-z0-9\-._~!$&'()*+,;=%:\[\]]+(?:[/?][^#]*)?")
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_CHUNK_LINE = re.compile(
    rb"0*[0-9A-Fa-f]{1,16}(?:;%s(?:=(?:%s|%s))?)*\r\n" % (TOKEN, TOKEN, _QUOTED)
)
_CHUNK_LINE_BYTES = re.compile(  # a chunk line yet to end
    rb"0*[0-9A-Fa-f]{0,16}(?:;[0-9A-Za-z;=\"!#$%&'*+\-.^_`|~ \t]*)?\r?"
)
# The methods llhttp knows, and so our core (RFC 9110 §9.1: any other gets 501).
KNOWN_METHODS = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH "
    b"SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY "
    b"SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY".split()
)
# Fields defined with one value (RFC 9110), whose ABNF is no list.
SINGLETONS = frozenset(
    b"authorization content-location content-range content-type from if-modified-since "
    b"if-range if-unmodified-since max-forwards proxy-authorization range referer "
    b"user-agent".split()
)


@dataclass(frozen=True)
class Sent:
    """A request as its bytes stand, before any parser's reading: its request line, its field
    lines, whether its head has ended, and the bytes after the head."""

    line: bytes
    fields: tuple[bytes, ...]
    section: bytes  # the head up to and with its empty line (or all of it that came)
    complete: bool
    after: bytes

    @classmethod
    def of(cls, rest: bytes) -> Sent:
        stream = rest.lstrip(b"\r\n")
        end = _SECTION_END.search(stream)
        section = stream[: end.end()] if end else stream
        head = stream[: end.start()].removesuffix(b"\r") if end else stream
        lines = re.split(rb"\r?\n", head)
        after = stream[end.end() :] if end else b""
        return cls(lines[0], tuple(lines[1:]), section, end is not None, after)

    @property
    def parts(self) -> tuple[bytes, bytes, bytes]:
        """Method, target and version ("" where the line does not have them)."""
        match = _REQUEST_LINE.fullmatch(self.line)
        if match:
            return match[1], match[2], match[3] + b"." + match[4]
        method, _, rest = self.line.partition(b" ")
        return method, rest.partition(b" ")[0], b""

    def values(self, name: bytes) -> list[bytes]:
        """The values of the field lines named `name` (any case), without OWS around them."""
        found = []
        for line in self.fields:
            field, colon, value = line.partition(b":")
            if colon and field.lower() == name:
                found.append(value.strip(b" \t"))
        return found

    def codings(self) -> list[bytes]:
        """Transfer-Encoding's codings, lower-cased, in order, empty elements dropped."""
        joined = b",".join(self.values(b"transfer-encoding"))
        return [c.strip(b" \t").lower() for c in joined.split(b",") if c.strip(b" \t")]


def _line_ends(sent: Sent) -> bool:
    """A bare LF or CR in the head: lines end with CRLF (RFC 9112 §2.2)."""
    # a CR at the very end of what came may be the start of a CRLF: only that one is spared
    section = sent.section if sent.complete else sent.section.removesuffix(b"\r")
    return re.search(rb"(?<!\r)\n|\r(?!\n)", section) is not None


def _request_line(sent: Sent) -> bool:
    """A request line outside RFC 9112 §3's grammar (as far as it came)."""
    if not sent.complete and b"\n" not in sent.section:
        return _LINE_PREFIX.fullmatch(sent.line) is None
    return _REQUEST_LINE.fullmatch(sent.line) is None


def _obs_fold(sent: Sent) -> bool:
    return any(line[:1] in (b" ", b"\t") for line in sent.fields)


def _field_syntax(sent: Sent) -> bool:
    """A field line whose name is not a token, or with whitespace before its colon, or none
    (a line yet to end: one whose name so far is no token)."""
    lines = sent.fields if sent.complete else sent.fields[:-1]
    if not sent.complete and sent.fields and _NAME_SO_FAR.fullmatch(sent.fields[-1]) is None:
        return True
    return any(
        line[:1] not in (b" ", b"\t") and not re.match(rb"%s:" % TOKEN, line) for line in lines
    )


def _value_bytes(sent: Sent) -> bool:
    """A field value holding a control byte other than HTAB (RFC 9110 §5.5), as far as it came."""
    last = [line.removesuffix(b"\r") for line in sent.fields[-1:]]
    lines = sent.fields if sent.complete else (*sent.fields[:-1], *last)
    return any(re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", line.partition(b":")[2]) for line in lines)


def _method_unknown(sent: Sent) -> bool:
    method = sent.parts[0]
    return _TOKEN.fullmatch(method) is not None and method not in KNOWN_METHODS


def _version_major(sent: Sent) -> bool:
    """A well-formed version whose major is not 1, or no version at all (HTTP/0.9)."""
    version = sent.parts[2]
    if version:
        return version[:1] != b"1"
    return re.fullmatch(rb"%s [^\x00-\x20\x7f]+" % TOKEN, sent.line) is not None


def _version_minor(sent: Sent) -> bool:
    """HTTP/1.2 to HTTP/1.9: processed as HTTP/1.1 (RFC 9110 §2.5)."""
    return sent.parts[2][:2] == b"1." and sent.parts[2] not in (b"1.0", b"1.1")


def _target(sent: Sent) -> bool:
    """A target in no form an origin server serves (RFC 9112 §3.2), with a fragment, or with
    a byte no URI holds (RFC 3986 §2: non-ASCII, controls, and " < > \\ ^ ` { | })."""
    method, target, _ = sent.parts
    if not target:
        return False
    if b"#" in target or _URI_BYTES.fullmatch(target) is None:
        return True
    if target[:1] == b"/":
        return False
    if target == b"*":
        return method != b"OPTIONS"
    return _ABSOLUTE.fullmatch(target) is None


def _host(sent: Sent) -> bool:
    """No Host in HTTP/1.1, two, or one that is no uri-host [":" port] (RFC 9112 §3.2)."""
    if not sent.complete:
        return False
    hosts = sent.values(b"host")
    if len(hosts) > 1 or any(_HOST_BYTES.fullmatch(host) is None for host in hosts):
        return True
    return not hosts and sent.parts[2] != b"1.0"  # absolute-form too: §3.2 says "any"


def _singleton_twice(sent: Sent) -> bool:
    names = [line.partition(b":")[0].lower() for line in sent.fields]
    return any(names.count(name) > 1 for name in SINGLETONS.intersection(names))


def _framing(sent: Sent) -> bool:
    """Transfer-Encoding in HTTP/1.0, with Content-Length, twice chunked or not chunked last;
    a Content-Length not 1*DIGIT, or sent twice or as a list (RFC 9112 §6.1, §6.3)."""
    codings, lengths = sent.codings(), sent.values(b"content-length")
    values = sent.values(b"transfer-encoding")
    if b"" in values:
        return True  # an empty line of it: RFC 9110 §5.6.1.2 would skip it; the safer reading
    if values:
        if sent.parts[2] == b"1.0" or lengths or codings.count(b"chunked") != 1:
            return True
        if b",".join(values).rsplit(b",", 1)[-1].strip(b" \t").lower() != b"chunked":
            return True  # even an empty element after chunked: the safer reading
    return len(lengths) > 1 or any(not re.fullmatch(rb"[0-9]+", length) for length in lengths)


def _coding_unknown(sent: Sent) -> bool:
    """A transfer coding before chunked: we decode none (RFC 9112 §6.1: 501)."""
    codings = sent.codings()
    return len(codings) > 1 and codings[-1] == b"chunked"


def _coding_list_empty_element(sent: Sent) -> bool:
    """Transfer-Encoding holding an empty list element (RFC 9110 §5.6.1.2: ignored)."""
    values = sent.values(b"transfer-encoding")
    return any(not element.strip(b" \t") for value in values for element in value.split(b","))


def _chunked_body(sent: Sent) -> bool:
    """A fault in a chunked body (as far as it came): a chunk line outside RFC 9112 §7.1's
    grammar (no whitespace, every extension named), chunk data not ended by CRLF, or a
    trailer line outside the field grammar or framing the message (RFC 9110 §6.5.1)."""
    if not sent.complete or sent.codings()[-1:] != [b"chunked"]:
        return False
    body, pos = sent.after, 0
    while True:
        line = _CHUNK_LINE.match(body, pos)
        if line is None:
            end = body.find(b"\n", pos)
            return end >= 0 or _CHUNK_LINE_BYTES.fullmatch(body, pos) is None
        size = int(line[0].partition(b";")[0].strip(b"\r\n"), 16)
        pos = line.end()
        if not size:
            return _trailers(body[pos:])
        ending = body[pos + size : pos + size + 2]
        if ending != b"\r\n"[: len(ending)]:
            return True
        if len(ending) < 2:
            return False
        pos += size + 2


def _trailers(section: bytes) -> bool:
    """A fault in a trailer section (as far as it came)."""
    if section[:2] == b"\r\n" or not section:
        return False
    end = _SECTION_END.search(section)
    if section[:1] == b"\n" or (end and end.start() == 0):
        return True
    part = section[: end.end()] if end else section.removesuffix(b"\r")
    if re.search(rb"(?<!\r)\n|\r(?!\n)", part):
        return True  # a bare LF or CR
    lines = part.split(b"\r\n")[: -2 if end else -1]
    return any(
        _FIELD_LINE.fullmatch(line) is None
        or line.partition(b":")[0].lower() in (b"content-length", b"transfer-encoding")
        for line in lines
    )


def _tab_after_chunked(sent: Sent) -> bool:
    """Transfer-Encoding ending in chunked and then whitespace with a tab in it."""
    for line in sent.fields:
        name, _, value = line.partition(b":")
        if name.lower() == b"transfer-encoding" and re.search(
            rb"(?i)chunked[ \t]*\t[ \t]*$", value
        ):
            return True
    return False


def _ours_refuse_bare_cr(d: Divergence) -> bool:
    """Ours refused a request with a CR not followed by LF before its request line."""
    bare = re.match(rb"(?:\r\n|\n)*\r(?!\n)", d.rest) is not None
    return bare and d.ours.ending == REFUSED and len(d.ours.messages) == d.index


def _ours_refuse_bare_lf(d: Divergence) -> bool:
    """Ours refused (4xx) a request with a bare LF among the empty lines before it."""
    bare = re.match(rb"(?:\r\n)*\n", d.rest) is not None
    mine = d.ours
    return (
        bare
        and mine.ending == REFUSED
        and len(mine.messages) == d.index
        and mine.status_class == "4xx"
    )


def _connect(sent: Sent) -> bool:
    return sent.parts[0] == b"CONNECT"


def _upgrade(sent: Sent) -> bool:
    return bool(sent.values(b"upgrade"))


def _keep_alive_10(sent: Sent) -> bool:
    options = b",".join(sent.values(b"connection")).lower()
    return sent.parts[2] == b"1.0" and b"keep-alive" in options and b"close" not in options


def _empty_line_first(d: Divergence) -> bool:
    return d.rest[:1] in (b"\r", b"\n")


# The table of explained differences ------------------------------------------------------------


def _ours_refuses(fault: Callable[[Sent], bool], status: str = "") -> Callable[[Divergence], bool]:
    """Ours refused the request at which they part (with a status of class `status`, if given),
    and that request breaks the rule `fault` checks."""

    def applies(d: Divergence) -> bool:
        ours = d.ours
        if ours.ending != REFUSED or len(ours.messages) != d.index:
            return False
        return (not status or ours.status_class == status) and fault(d.sent)

    return applies


def _peer_refuses(what: Callable[[Sent], bool]) -> Callable[[Divergence], bool]:
    """The peer refused the request at which they part, which ours serves or waits for, and
    that request has `what`, which the peer wrongly refuses."""

    def applies(d: Divergence) -> bool:
        peer = d.peer
        ours_on = d.ours.ending != REFUSED or len(d.ours.messages) > d.index
        return peer.ending == REFUSED and len(peer.messages) == d.index and ours_on and what(d.sent)

    return applies


def _h11_empty_line(d: Divergence) -> bool:
    """h11 refused a request after empty lines (CRLF, or a bare LF), and reads the rest as ours
    does (or as the table explains) without them."""
    empty = re.match(rb"(?:\r\n|\n)+", d.rest)
    if empty is None or not _peer_refuses(lambda sent: True)(d):
        return False
    rest = d.rest[empty.end() :]
    return not classify(rest, ours(rest), with_h11(rest)).finding


_LONG_NUMERAL = re.compile(rb"(?im)(^content-length:[ \t]*|\n)(0[0-9a-f]{20,})(?=[ \t;\r])")


def _h11_long_numerals(d: Divergence) -> bool:
    """h11 refused a Content-Length or chunk size of over 20 digits (leading zeros), and reads
    the rest as ours does (or as the table explains) with the zeros gone."""
    if not _peer_refuses(lambda sent: True)(d) or not _LONG_NUMERAL.search(d.rest):
        return False
    rest = _LONG_NUMERAL.sub(lambda m: m[1] + (m[2].lstrip(b"0") or b"0"), d.rest)
    return not classify(rest, ours(rest), with_h11(rest)).finding


def _h11_lone_cr(d: Divergence) -> bool:
    """h11 refused a CR that ends the stream after empty lines (it may begin one more: ours
    waits for its LF, having begun no request)."""
    ends_in_cr = re.fullmatch(rb"(?:\r\n)*\r", d.rest) is not None
    return ends_in_cr and d.ours.ending == CLEAN and _peer_refuses(lambda sent: True)(d)


def _llhttp_keeps_10(d: Divergence) -> bool:
    """llhttp keeps an HTTP/1.0 connection whose Connection lists keep-alive and close."""
    options = b",".join(d.sent.values(b"connection")).lower()
    closing = d.sent.parts[2] == b"1.0" and b"close" in options
    return d.fields_differ() == {"keep_alive"} and closing and d.peer.messages[d.index].keep_alive


def _h11_closes_10(d: Divergence) -> bool:
    return d.fields_differ() == {"keep_alive"} and _keep_alive_10(d.sent)


def _upgrade_closes(d: Divergence) -> bool:
    """Ours serves a request with Upgrade, body included, then closes; h11 (answered 200) goes
    on; llhttp hands the rest, body included, to the other protocol."""
    if not _upgrade(d.sent):
        return False
    if d.kind == OURS_STOPS:  # ours waits for the body llhttp left to the other protocol
        last = len(d.peer.messages) == d.index + 1
        switched = d.peer.ending in (SWITCHED, CLOSED) and last  # closed: in HTTP/1.0
        return d.ours.ending == WAITING and switched and not d.peer.messages[d.index].body
    if d.ours.messages[d.index].keep_alive:
        return False
    differ = d.fields_differ()
    if d.peer.parser == "httptools":  # it switched, or closed (HTTP/1.0) without the body
        last = len(d.peer.messages) == d.index + 1 and d.peer.ending in (SWITCHED, CLOSED)
        return last and differ <= {"body", "keep_alive"} and not d.peer.messages[d.index].body
    return differ == {"keep_alive"}


def _line_unfinished(d: Divergence) -> bool:
    """Ours waits for the end of a request line or chunk-size line that a peer refused before
    its end (the stream ends inside it)."""
    if d.ours.ending != WAITING or d.peer.ending != REFUSED or d.data.endswith(b"\n"):
        return False
    ended = ours(d.data + b"\r\n")  # the line ended: ours must refuse it then
    return ended.ending == REFUSED and len(ended.messages) == d.index


STOPS = (OURS_STOPS, ENDING)
PEER = (PEER_STOPS, ENDING)
BOTH = ("h11", "httptools")
SAFER = "; where the RFC lets a recipient choose, the safer reading refuses, as llhttp does"

EXPLANATIONS: tuple[Explanation, ...] = (
    Explanation(
        "bare CR or LF in the head",
        "RFC 9112 §2.2: lines end with CRLF; a bare CR MUST be refused or replaced, a bare LF "
        "MAY be taken for a line end (h11 does)" + SAFER,
        BOTH,
        STOPS,
        _ours_refuses(_line_ends, "4xx"),
        wrong="neither",
    ),
    Explanation(
        "request line outside the grammar",
        "RFC 9112 §3: request-line = method SP request-target SP HTTP-version, and §2.3 the "
        "protocol name is HTTP (llhttp takes several spaces, RTSP and ICE)",
        BOTH,
        STOPS,
        _ours_refuses(_request_line, "4xx"),
        wrong="llhttp",
    ),
    Explanation(
        "unknown method",
        "RFC 9110 §9.1: a method the server does not know gets 501 (h11 takes any token)",
        BOTH,
        STOPS,
        _ours_refuses(_method_unknown, "5xx"),
        wrong="neither",
    ),
    Explanation(
        "major version other than 1",
        "RFC 9110 §15.6.6: 505 for a major version the server does not speak (h11 serves "
        "HTTP/2.0 as HTTP/1.1; llhttp serves HTTP/2.0 and HTTP/0.9, then closes)",
        BOTH,
        STOPS,
        _ours_refuses(_version_major, "5xx"),
        wrong="h11 and llhttp",
    ),
    Explanation(
        "obs-fold",
        "RFC 9112 §5.2: a server MUST refuse obs-fold or replace it with SP (h11 unfolds)" + SAFER,
        BOTH,
        STOPS,
        _ours_refuses(_obs_fold, "4xx"),
        wrong="neither",
    ),
    Explanation(
        "field line outside the grammar",
        "RFC 9110 §5.1 field-name = token, RFC 9112 §5.1 no whitespace before the colon",
        BOTH,
        STOPS,
        _ours_refuses(_field_syntax, "4xx"),
        wrong="neither",
    ),
    Explanation(
        "control byte in a field value",
        "RFC 9110 §5.5: a CTL other than HTAB makes a value invalid; a recipient MAY keep it "
        "(h11 does)" + SAFER,
        BOTH,
        STOPS,
        _ours_refuses(_value_bytes, "4xx"),
        wrong="neither",
    ),
    Explanation(
        "target in no form an origin server serves",
        "RFC 9112 §3.2: origin-form, absolute-form (http or https), * for OPTIONS; no "
        "fragment (h11 and llhttp take any visible bytes)",
        BOTH,
        STOPS,
        _ours_refuses(_target, "4xx"),
        wrong="neither",
    ),
    Explanation(
        "Host missing, repeated or malformed",
        "RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, with "
        "two, or with an invalid one (llhttp checks none of it, h11 not its value)",
        BOTH,
        STOPS,
        _ours_refuses(_host, "4xx"),
        wrong="neither",
    ),
    Explanation(
        "singleton field twice",
        "RFC 9110 §5.3: only a list-based field may be sent as several lines" + SAFER,
        BOTH,
        STOPS,
        _ours_refuses(_singleton_twice, "4xx"),
        wrong="neither",
    ),
    Explanation(
        "faulty framing",
        "RFC 9112 §6.1 and §6.3: Transfer-Encoding in HTTP/1.0, with Content-Length, chunked "
        "twice or not last, Content-Length not 1*DIGIT or a list: 400 and close (h11 takes "
        "equal Content-Length values, and lets Transfer-Encoding win over Content-Length "
        "without closing)",
        BOTH,
        STOPS,
        _ours_refuses(_framing, "4xx"),
        wrong="h11",
    ),
    Explanation(
        "transfer coding before chunked",
        "RFC 9112 §6.1: a coding the server does not decode gets 501 (llhttp hands the coded "
        "bytes on as the body)",
        BOTH,
        STOPS,
        _ours_refuses(_coding_unknown, "5xx"),
        wrong="neither",
    ),
    Explanation(
        "chunked body outside the grammar",
        "RFC 9112 §7.1 chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF, §7.1.1 every "
        "extension named, §7.1.2 and RFC 9110 §6.5.1 trailer lines are field lines and frame "
        "nothing (h11 takes any extension and whitespace after the size)",
        BOTH,
        STOPS,
        _ours_refuses(_chunked_body, "4xx"),
        wrong="h11",
    ),
    Explanation(
        "bare LF as an empty line before a request",
        "RFC 9112 §2.2: a server SHOULD ignore an empty line (CRLF) before a request line and "
        "MAY take a bare LF for a line end (llhttp skips it); the safer reading refuses it, as "
        "ours does in the head",
        BOTH,
        STOPS,
        _ours_refuse_bare_lf,
        wrong="neither",
    ),
    Explanation(
        "CONNECT",
        "RFC 9110 §9.3.6: CONNECT asks for a tunnel, which an origin server does not open "
        "(501, or 400 if its target is not authority-form)",
        BOTH,
        STOPS,
        _ours_refuses(_connect),
        wrong="neither",
    ),
    Explanation(
        "h11 refuses an empty line before a request",
        "RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line "
        "(h11 refuses any; a bare LF line MAY count as one)",
        ("h11",),
        PEER,
        _h11_empty_line,
        wrong="h11",
    ),
    Explanation(
        "h11 refuses a CR that may begin an empty line",
        "RFC 9112 §2.2: an empty line (CRLF) before a request line SHOULD be ignored; h11 "
        "refuses a first byte under 0x21 before its line has ended",
        ("h11",),
        PEER,
        _h11_lone_cr,
        wrong="h11",
    ),
    Explanation(
        "h11 refuses an empty Transfer-Encoding list element",
        "RFC 9110 §5.6.1.2: a recipient MUST ignore empty list elements (h11 refuses anything "
        "but the one value chunked)",
        ("h11",),
        PEER,
        _peer_refuses(_coding_list_empty_element),
        wrong="h11",
    ),
    Explanation(
        "h11 refuses numerals of over 20 digits",
        "RFC 9110 §8.6 Content-Length = 1*DIGIT and RFC 9112 §7.1 chunk-size = 1*HEXDIG: "
        "leading zeros are allowed; a recipient guards against overflow by value (h11 counts "
        "digits, zeros included)",
        ("h11",),
        PEER,
        _h11_long_numerals,
        wrong="h11",
    ),
    Explanation(
        "llhttp refuses HTTP/1.2 to HTTP/1.9",
        "RFC 9110 §2.5: a later minor version of HTTP/1 is processed as HTTP/1.1",
        ("httptools",),
        PEER,
        _peer_refuses(_version_minor),
        wrong="llhttp",
    ),
    Explanation(
        "llhttp keeps an HTTP/1.0 connection that asks to close",
        "RFC 9112 §9.6: close in Connection ends the connection after this request, whatever "
        "else the list holds (llhttp lets keep-alive win in HTTP/1.0)",
        ("httptools",),
        (MESSAGE,),
        _llhttp_keeps_10,
        wrong="llhttp",
    ),
    Explanation(
        "h11 closes every HTTP/1.0 connection",
        "RFC 9112 §9.3 and Appendix C.2.2: an HTTP/1.0 connection MAY persist when the client "
        "asks with keep-alive (h11 never keeps one)",
        ("h11",),
        (MESSAGE,),
        _h11_closes_10,
        wrong="neither",
    ),
    Explanation(
        "Upgrade served as plain HTTP, then closed",
        "RFC 9110 §7.8: a server MAY ignore Upgrade; ours reads the body and closes after it, "
        "h11 (answered 200) goes on, llhttp hands the rest, body included, to the other "
        "protocol (llhttp is the one wrong: the body belongs to the request)",
        BOTH,
        (MESSAGE, OURS_STOPS),
        _upgrade_closes,
        wrong="llhttp (with h11: neither)",
    ),
    Explanation(
        "ours judges a request line once whole",
        "RFC 9112 §3 (the request line is read whole, within the 414 limit); the peer refused "
        "a byte before its end, ours waits for the end to refuse it",
        BOTH,
        (ENDING,),
        _line_unfinished,
        wrong="neither",
    ),
    # Where ours is the one wrong (none now): an entry with fault= for each, and a regression
    # case in bench/conformance/findings.py, the fix the core's. Such an entry matches only while
    # the fault lasts and goes once it is fixed, so that the fault cannot come back unseen (the
    # tab after chunked was the last, mended in servers/wire.py); the llhttp entries after this
    # explain the fixed core.
    Explanation(
        "llhttp refuses a tab after chunked",
        "RFC 9110 §5.5: whitespace after a value is not part of it (llhttp takes SP there, not "
        "HTAB)",
        ("httptools",),
        PEER,
        _peer_refuses(_tab_after_chunked),
        wrong="llhttp",
    ),
    Explanation(
        "llhttp skips a bare CR before a request",
        "RFC 9112 §2.2: a bare CR MUST be refused or replaced by SP; only CRLF is an empty line",
        ("httptools",),
        STOPS,
        _ours_refuse_bare_cr,
        wrong="llhttp",
    ),
)


# Checking a stream, and counting -----------------------------------------------------------------

STATS: Counter[tuple[str, ...]] = Counter()  # ("examples",), ("explained", name), ("finding", kind)


class Finding(AssertionError):
    """An unexplained divergence between ours and a peer (or between ours and itself)."""


_FINDINGS: dict[str, type[Finding]] = {}


def _finding(verdict: Verdict) -> Finding:
    """A Finding of a class of its own per peer and kind, so that hypothesis shrinks each
    (it tells failures apart by their exception's type)."""
    assert verdict.divergence is not None
    key = f"{verdict.peer}: {verdict.divergence.kind}"
    cls = _FINDINGS.setdefault(key, type(f"Finding_{len(_FINDINGS)}", (Finding,), {}))
    return cls(f"{key}\n{verdict.divergence.describe()}")


def check(data: bytes, cuts: Sequence[int] = ()) -> list[Verdict]:
    """Compare; count every explained difference; raise the first finding."""
    verdicts = compare(data, cuts)
    STATS["examples",] += 1
    for verdict in verdicts:
        for name in verdict.explained:
            STATS["explained", verdict.peer, name] += 1
    for verdict in verdicts:
        if verdict.finding:
            assert verdict.divergence is not None
            STATS["finding", verdict.peer, verdict.divergence.kind] += 1
            raise _finding(verdict)
    return verdicts


def summary() -> list[str]:
    """The counts to print after a run: examples, explained differences by class and peer,
    findings by kind."""
    if not STATS["examples",]:
        return []
    lines = [f"differential examples run: {STATS['examples',]} (ours against h11 and httptools)"]
    rules = {e.name: (e.wrong, e.fault) for e in EXPLANATIONS}
    rules.update({n.name: (n.wrong, "") for n in NORMALISERS})
    counts: dict[str, Counter[str]] = {}
    for key, count in STATS.items():
        if key[0] == "explained":
            counts.setdefault(key[2], Counter())[key[1]] += count
    for label, faults in (("explained differences", False), ("known faults of ours", True)):
        names = sorted(n for n in counts if bool(rules[n][1]) is faults)
        lines.append(f"{label}: {sum(sum(counts[n].values()) for n in names)}")
        for name in names:
            peers = ", ".join(f"{peer} {count}" for peer, count in sorted(counts[name].items()))
            tag = f"case: {rules[name][1]}" if faults else f"wrong: {rules[name][0]}"
            lines.append(f"  {name}: {peers} [{tag}]")
    findings = sorted((key[1:], count) for key, count in STATS.items() if key[0] == "finding")
    lines.append(f"unexplained findings: {sum(count for _, count in findings)}")
    lines += [f"  {peer}: {kind}: {count}" for (peer, kind), count in findings]
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """As a plugin (`-p tests.differential`, as nox -s fuzz loads it): the counts at the end."""
    lines = summary()
    if lines:
        terminalreporter.section("differential fuzzing")
        for line in lines:
            terminalreporter.write_line(line)
