"""Differential fuzzing of our core against h11 and plain httptools (llhttp): valid requests
from the grammar, and requests mutated at the byte, header and message-boundary level, each fed
to the three parsers (to ours also in random reads); every disagreement with ours must be one
the table in tests/differential.py explains by a rule. DIFFERENTIAL_EXAMPLES in all (200 in the
suite, a second; `nox -s fuzz` sets 100,000 and prints the counts), a tenth of them valid
requests from the grammar, three tenths each kind of mutation.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.conformance import Case, Refused, Served, findings
from tests import differential
from tests.request_grammar import pipelines

# Examples in all, shared among the tests below: nox -s fuzz sets 100,000.
EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "200"))


def fuzz(share: float) -> settings:
    """`share` of EXAMPLES for one test (and hypothesis's settings for all of them)."""
    return settings(
        max_examples=max(1, round(EXAMPLES * share)),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


NEXT = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"

# Requests to mutate: built from a few cheap draws (bytes mapped onto an alphabet), as the
# mutations matter here, not the variety of names and values the grammar's requests have.

TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PCHAR = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?"
VCHAR = bytes([*range(0x21, 0x7F), *range(0x80, 0x100)]) + b" \t" * 16  # spaces inside


def _onto(alphabet: bytes) -> bytes:
    """A translation table mapping every byte onto `alphabet`."""
    return bytes(alphabet[byte % len(alphabet)] for byte in range(256))


NAMES, PATHS, VALUES = _onto(TCHAR), _onto(PCHAR), _onto(VCHAR)
targets = st.binary(max_size=14).map(lambda raw: b"/" + raw.translate(PATHS))
METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"PROPFIND"]
HOSTS = [b"h", b"127.0.0.1", b"localhost:8000", b"[::1]:80", b""]


def _field_lines(raw: bytes) -> list[bytes]:
    """Up to four field lines made from `raw` (one draw, however many fields): its pieces
    between bytes under 0x10, each a name (its first bytes) and a value (the rest)."""
    lines = []
    for piece in re.split(rb"[\x00-\x0f]", raw)[:4]:
        if piece:
            cut = 1 + piece[0] % 8
            value = piece[cut:].translate(VALUES).strip(b" \t")
            lines.append(piece[:cut].translate(NAMES) + b": " + value)
    return lines


fields = st.binary(max_size=48).map(_field_lines)


@st.composite
def chunked(draw: st.DrawFn, body: bytes) -> bytes:
    """`body` in chunks of the sizes `raw` gives, an extension now and then, trailers now and
    then: all valid (RFC 9112 §7.1)."""
    raw = draw(st.binary(min_size=1, max_size=8))
    wire, rest = b"", body
    for byte in raw:
        if not rest:
            break
        size = min(len(rest), 1 + byte % 24)
        extension = (b"", b"", b";a=b", b';q="x y"')[byte // 64]
        wire += b"%x%s\r\n%s\r\n" % (size, extension, rest[:size])
        rest = rest[size:]
    if rest:
        wire += b"%X\r\n%s\r\n" % (len(rest), rest)
    trailers = b"".join(line + b"\r\n" for line in _field_lines(raw[1:]) if raw[0] > 200)
    return wire + b"0\r\n" + trailers + b"\r\n"


@dataclass
class Draft:
    """A request before it is put on the wire: mutations change its parts."""

    line: bytes
    fields: list[bytes]  # field lines, without their CRLF
    body: bytes  # as the application should get it
    framed: bytes  # as it is sent

    @property
    def wire(self) -> bytes:
        return b"\r\n".join([self.line, *self.fields]) + b"\r\n\r\n" + self.framed


@st.composite
def drafts(draw: st.DrawFn, version: bytes | None = None) -> Draft:
    """A valid request: a method, an origin-form target, Host and a few fields in any order,
    and a body framed by Content-Length or chunks (or none)."""
    version = version or draw(st.sampled_from([b"1.1", b"1.1", b"1.0"]))
    line = draw(st.sampled_from(METHODS)) + b" " + draw(targets) + b" HTTP/" + version
    lines = draw(fields)
    lines.insert(draw(st.integers(0, len(lines))), b"Host: " + draw(st.sampled_from(HOSTS)))
    body = draw(st.binary(max_size=40))
    framing = draw(
        st.sampled_from(["length", "chunked" if version == b"1.1" else "length", "none"])
    )
    where = draw(st.integers(0, len(lines)))
    if framing == "length":
        lines.insert(where, b"Content-Length: %d" % len(body))
        framed = body
    elif framing == "chunked":
        lines.insert(where, b"Transfer-Encoding: chunked")
        framed = draw(chunked(body))
    else:
        body = framed = b""
    return Draft(line, lines, body, framed)


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """One to three valid requests in a row (HTTP/1.0 only last: it closes the connection)."""
    count = draw(st.integers(1, 3))
    return b"".join(draw(drafts(b"1.1" if n < count - 1 else None)).wire for n in range(count))


# Byte level --------------------------------------------------------------------------------------

# What smuggling probes are made of (the HTTP Garden's findings, gunicorn's and llhttp's corpora).
TOKENS = [
    *(bytes([b]) for b in b'\r\n \t\x00,:;=0159aF+-_"#/\x0b\x0c\x7f\xa0\xff'),
    b"\r\n",
    b"0x",
    b"\r\n ",
    b"\r\n\r\n",
]
LANDMARKS = re.compile(rb"[:;, \r\n/]|[0-9A-Fa-f]+\r\n")


BYTE_EDITS = ("insert", "replace", "delete", "repeat", "bare-lf")


def byte_edit(data: bytearray, op: bytes) -> None:
    """One edit of `data`, all its choices read from the four bytes of `op` (one draw, which
    hypothesis shrinks towards an insert at the first delimiter): what to do, where (next to a
    delimiter, or anywhere), and with which token (or any byte)."""
    kind, place, spot, pick = op
    marks = [m.start() for m in LANDMARKS.finditer(data)] or [0]
    if place < 160:
        where = marks[spot % len(marks)] + place % 4 - 1
    else:
        where = (spot * 256 + pick) % (len(data) + 1)
    where = min(max(where, 0), len(data))
    token = TOKENS[pick % len(TOKENS)] if pick < 224 else bytes([spot])
    edit = BYTE_EDITS[kind % len(BYTE_EDITS)]
    if edit == "insert":
        data[where:where] = token
    elif edit == "replace":
        data[where : where + len(token)] = token
    elif edit == "delete":
        del data[where : where + 1 + pick % 4]
    elif edit == "repeat":
        data[where:where] = data[where : where + 1 + pick % 40]
    else:
        crlf = data.find(b"\r\n", where)
        if crlf >= 0:
            del data[crlf]


@st.composite
def byte_mutated(draw: st.DrawFn) -> bytes:
    """Valid requests in a row with one to four bytes or tokens inserted, replaced, deleted or
    repeated, most often next to a delimiter (where parsers part)."""
    data = bytearray(draw(streams()))
    for op in draw(st.lists(st.binary(min_size=4, max_size=4), min_size=1, max_size=4)):
        byte_edit(data, op)
    return bytes(data)


# Header level ------------------------------------------------------------------------------------

LENGTH_VALUES = [
    b"%d",
    b"+%d",
    b"-%d",
    b"0x%x",
    b"0%d",
    b" %d ",
    b"%d, %d",
    b"%d,%d",
    b"%d, 1%d",
    b"%d_0",
    b"%d.0",
    b"%d ;",
    b"",
    b"99999999999999999999%d",
    b"000000000000000000000%d",
]
CODINGS = [
    b"chunked",
    b"CHUNKED",
    b",chunked",
    b"chunked,",
    b", chunked",
    b"chunked, gzip",
    b"gzip, chunked",
    b"identity",
    b"identity, chunked",
    b"chunked, chunked",
    b"chunked;q=1",
    b'"chunked"',
    b"xchunked",
    b"chunked\xa0",
    b"\tchunked",
    b"gzip",
]
SPECIAL_FIELDS = [
    b"Host: h",
    b"Host:",
    b"Host: a b",
    b"Host: h:80 ",
    b"host: other",
    b"Connection: close",
    b"Connection: keep-alive",
    b"Connection: Close",
    b"Connection: keep-alive, close",
    b"Connection: upgrade",
    b"Upgrade: h2c",
    b"Connection: Upgrade\r\nUpgrade: websocket",
    b"Upgrade: h2c\r\nConnection: keep-alive, upgrade",
    b"Expect: 100-continue",
    b"Expect: 100-Continue",
    b"Content-Type: a",
    b"User-Agent: x",
    b"Referer: /r",
    b"Accept: a",
    b": empty-name",
    b" X-Folded: start",
    b"X-Missing-Colon",
    b"X Y: space-in-name",
    b"X-Nbsp: \xa0a\xa0",
    b"X-Ctl: a\x01b",
]


CASES = (bytes.upper, bytes.lower, bytes.title, bytes.swapcase)
BEFORE_COLON = (b" ", b"\t")
AFTER_COLON = (b"", b"  ", b"\t", b" \t ")
AFTER_VALUE = (b" ", b"\t", b" \t", b"\x0b", b"\xa0")
HEADER_EDITS = (
    "duplicate",
    "reorder",
    "remove",
    "special",
    "length",
    "coding",
    "case",
    "space-before-colon",
    "space-after-colon",
    "space-after-value",
    "obs-fold",
)


def _changed_line(line: bytes, how: str, pick: int) -> list[bytes]:
    """A field line changed in one of the ways a header-level edit changes one."""
    name, colon, value = line.partition(b":")
    if how == "case":
        return [CASES[pick % len(CASES)](name) + colon + value]
    if how == "space-before-colon":
        return [name + BEFORE_COLON[pick % 2] + colon + value]
    if how == "space-after-colon":
        return [name + colon + AFTER_COLON[pick % len(AFTER_COLON)] + value.lstrip()]
    if how == "space-after-value":
        return [line + AFTER_VALUE[pick % len(AFTER_VALUE)]]
    cut = pick % (len(line) + 1)  # obs-fold
    return [line[:cut], BEFORE_COLON[pick % 2] + line[cut:]]


def header_edit(fields: list[bytes], body: bytes, op: bytes) -> list[bytes]:
    """The field lines after one edit, its choices read from the three bytes of `op`: what to
    do, where, and which shape (of a field, a Content-Length or Transfer-Encoding value...)."""
    kind, where, pick = op
    how = HEADER_EDITS[kind % len(HEADER_EDITS)]
    where %= len(fields) + 1
    if how == "special":
        return [*fields[:where], SPECIAL_FIELDS[pick % len(SPECIAL_FIELDS)], *fields[where:]]
    if how == "length":
        shape = LENGTH_VALUES[pick % len(LENGTH_VALUES)]
        size = len(body) + (0, 0, 0, 1, -1, 5)[pick // 43]
        name = (b"Content-Length", b"content-length")[pick % 2]
        line = name + b": " + shape % ((size,) * shape.count(b"%"))
        return [*fields[:where], line, *fields[where:]]
    if how == "coding":
        line = b"Transfer-Encoding: " + CODINGS[pick % len(CODINGS)]
        return [*fields[:where], line, *fields[where:]]
    if not fields:
        return fields
    index = min(where, len(fields) - 1)
    if how == "duplicate":
        return [*fields[:where], fields[pick % len(fields)], *fields[where:]]
    if how == "reorder":
        moved = [*fields[:index], *fields[index + 1 :]]
        return [*moved[: pick % len(fields)], fields[index], *moved[pick % len(fields) :]]
    if how == "remove":
        return [*fields[:index], *fields[index + 1 :]]
    return [*fields[:index], *_changed_line(fields[index], how, pick), *fields[index + 1 :]]


# Request lines in the other shapes: methods, target forms, versions.
OTHER_METHODS = (b"CONNECT", b"BREW", b"get", b"M-SEARCH", b"TRACE", b"QUERY")
OTHER_TARGETS = (
    b"http://a.b/x",
    b"HTTPS://a.b:8443/?q",
    b"*",
    b"a.b:443",
    b"//x",
    b"/a#f",
    b"http://u@a.b/",
    b"ftp://a.b/",
    b"/%zz",
)
OTHER_VERSIONS = (b"1.2", b"2.0", b"0.9", b"1.10", b"1.0")


def line_edit(line: bytes, pick: int) -> bytes:
    """The request line with its method, target or version in another shape (pick < 192:
    unchanged)."""
    method, target, version = line.split(b" ")
    if pick < 192:
        return line
    if pick < 216:
        method = OTHER_METHODS[pick % len(OTHER_METHODS)]
    elif pick < 240:
        target = OTHER_TARGETS[pick % len(OTHER_TARGETS)]
    else:
        version = b"HTTP/" + OTHER_VERSIONS[pick % len(OTHER_VERSIONS)]
    return b" ".join([method, target, version])


@st.composite
def header_mutated(draw: st.DrawFn) -> bytes:
    """A valid request whose field lines are duplicated, moved, removed, recased, spaced,
    folded, or joined by framing and connection fields in their odd shapes; its body as it was
    framed, or re-framed; a second request after it now and then, to show where it ended."""
    draft = draw(drafts())
    lines, body, framed = draft.fields, draft.body, draft.framed
    for op in draw(st.lists(st.binary(min_size=3, max_size=3), min_size=1, max_size=4)):
        lines = header_edit(lines, body, op)
    framing = draw(st.sampled_from(["as sent", "as sent", "raw", "chunked", "none"]))
    if framing == "raw":
        framed = body
    elif framing == "chunked":
        framed = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    elif framing == "none":
        framed = b""
    after = draw(st.sampled_from([b"", NEXT]))
    line = line_edit(draft.line, draw(st.integers(0, 255)))
    return b"\r\n".join([line, *lines]) + b"\r\n\r\n" + framed + after


# Message-boundary level --------------------------------------------------------------------------

SIZE_SHAPES = [
    *(b"%x", b"%X", b"000%x", b"0" * 24 + b"%x", b"0x%x", b"+%x", b"-%x"),
    *(b" %x", b"%x ", b"%x\t", b"%x_", b"1" + b"0" * 16 + b"%x"),
]
EXTENSIONS = [
    b"",
    b"",
    b";a=b",
    b";a",
    b";",
    b" ;a",
    b";a =b",
    b";a= b",
    b';a="x y"',
    b';a="\r"',
    b";=b",
    b";a=b;c",
    b";a\x00",
    b"; a",
]
AFTER_DATA = [b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b"", b"xx\r\n"]
LAST_CHUNKS = [b"0", b"0", b"00", b"0" * 24, b"0;a=b", b"0 ", b"0\t", b"0x0", b"+0", b""]
TRAILERS = [
    [],
    [],
    [b"X: y"],
    [b"Content-Length: 5"],
    [b"Host: evil"],
    [b"Transfer-Encoding: chunked"],
    [b"X: y", b" folded"],
    [b"X : y"],
    [b": y"],
    [b"X: a\x00b"],
]
FINAL = [b"\r\n", b"\r\n", b"\r\n", b"\n", b""]


@st.composite
def chunked_body(draw: st.DrawFn, body: bytes) -> bytes:
    """`body` as chunks (their sizes from one draw), one of them in an odd shape now and then
    (its size, extension or ending), then a last chunk, trailers and a final line, each odd
    now and then."""
    plan = draw(st.binary(min_size=1, max_size=6))
    odd = draw(st.integers(0, len(plan)))  # the chunk in an odd shape (none if past the last)
    wire, rest = b"", body
    for n, byte in enumerate(plan):
        if not rest:
            break
        size = min(len(rest), 1 + byte % 16) if n < len(plan) - 1 else len(rest)
        piece, rest = rest[:size], rest[size:]
        shape, declared, extension, ending = b"%x", size, b"", b"\r\n"
        if n == odd:
            shape = draw(st.sampled_from(SIZE_SHAPES))
            declared = max(0, size + draw(st.sampled_from([0, 0, -1, 1, 2])))
            extension = draw(st.sampled_from(EXTENSIONS))
            ending = draw(st.sampled_from(AFTER_DATA))
        wire += shape % declared + extension + b"\r\n" + piece + ending
    trailers = b"".join(line + b"\r\n" for line in draw(st.sampled_from(TRAILERS)))
    last = draw(st.sampled_from(LAST_CHUNKS))
    return wire + last + (b"\r\n" if last else b"") + trailers + draw(st.sampled_from(FINAL))


# Fields that change where a request ends, or whether another may follow it.
BOUNDARY_FIELDS = [
    *[[]] * 6,
    [b"Connection: upgrade", b"Upgrade: h2c"],
    [b"Connection: close"],
    [b"Expect: 100-continue"],
]


@st.composite
def framed_request(draw: st.DrawFn) -> bytes:
    """One request whose body is framed by Content-Length (the body sent longer or shorter than
    declared now and then), by chunks in odd shapes, or not at all (its bytes then follow)."""
    method = draw(st.sampled_from([b"POST", b"PUT", b"GET"]))
    lines = [b"Host: h", *draw(fields), *draw(st.sampled_from(BOUNDARY_FIELDS))]
    body = draw(st.binary(max_size=40))
    framing = draw(st.sampled_from(["length", "length", "chunked", "chunked", "chunked", "none"]))
    where = draw(st.integers(0, len(lines)))
    if framing == "length":
        declared = len(body) + draw(st.sampled_from([0, 0, 0, -1, 1, -3, 3]))
        lines.insert(where, b"Content-Length: %d" % max(declared, 0))
        framed = body
    elif framing == "chunked":
        lines.insert(where, b"Transfer-Encoding: chunked")
        framed = draw(chunked_body(body))
    else:
        framed = draw(st.sampled_from([b"", body]))
    return b"\r\n".join([method + b" / HTTP/1.1", *lines]) + b"\r\n\r\n" + framed


@st.composite
def boundary_mutated(draw: st.DrawFn) -> bytes:
    """Two or three requests in a row, framed requests among valid ones, with empty lines
    between them now and then: where one ends is where the next begins."""
    parts = draw(
        st.lists(
            st.one_of(framed_request(), framed_request(), drafts(b"1.1").map(lambda d: d.wire)),
            min_size=2,
            max_size=3,
        )
    )
    # empty lines between requests, now and then (h11 refuses them: where it does, it is
    # compared no further)
    gaps = [b"", *(draw(st.sampled_from([b""] * 6 + [b"\r\n", b"\n"])) for _ in parts[1:])]
    return b"".join(gap + part for gap, part in zip(gaps, parts, strict=True))


# The properties ----------------------------------------------------------------------------------


def differ(sent: tuple[bytes, list[int]]) -> None:
    """The differential check of one stream, each peer's verdict an event of hypothesis's
    statistics (--hypothesis-show-statistics)."""
    for verdict in differential.check(*sent)[1:]:
        event(f"{verdict.peer}: " + (" + ".join(verdict.explained) or "agrees"))


def cuts(data: bytes, raw: bytes) -> list[int]:
    """Where to cut `data` into reads, a place for each two bytes of `raw`: anywhere, or just
    after the start of a request (where empty lines and request lines are told apart)."""
    starts = [0, *(m.end() for m in re.finditer(rb"\r\n\r\n", data))]
    points = set()
    for i in range(0, len(raw) - 1, 2):
        if raw[i] & 1:
            points.add(int.from_bytes(raw[i : i + 2], "big") % (len(data) + 1))
        else:
            points.add(min(len(data), starts[raw[i + 1] % len(starts)] + raw[i] % 8 // 2))
    return sorted(points)


def with_cuts(data: st.SearchStrategy[bytes]) -> st.SearchStrategy[tuple[bytes, list[int]]]:
    """A stream and the reads our core gets it in (besides whole, and a byte at a time)."""
    return st.tuples(data, st.binary(max_size=16)).map(
        lambda drawn: (drawn[0], cuts(drawn[0], drawn[1]))
    )


@fuzz(0.1)  # the grammar's requests take longest to draw
@given(with_cuts(pipelines().map(lambda sent: b"".join(request.wire for request in sent))))
def test_valid_pipelines(sent: tuple[bytes, list[int]]) -> None:
    differ(sent)


@fuzz(0.3)
@given(with_cuts(byte_mutated()))
def test_byte_mutations(sent: tuple[bytes, list[int]]) -> None:
    differ(sent)


@fuzz(0.3)
@given(with_cuts(header_mutated()))
def test_header_mutations(sent: tuple[bytes, list[int]]) -> None:
    differ(sent)


@fuzz(0.3)
@given(with_cuts(boundary_mutated()))
def test_boundary_mutations(sent: tuple[bytes, list[int]]) -> None:
    differ(sent)


# The runner itself, on known answers ------------------------------------------------------------

TWO = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" + NEXT


def test_the_three_readings_of_a_pipeline_agree_to_the_byte() -> None:
    readings = [
        differential.ours(TWO),
        differential.with_h11(TWO),
        differential.with_httptools(TWO),
    ]
    for outcome in readings:
        assert outcome.ends == (len(TWO) - len(NEXT), len(TWO)), outcome.parser
        assert outcome.ending == differential.CLEAN
        assert outcome.messages[0].body == b"abc"
        assert outcome.messages[1].headers == ((b"host", b"h"),)
    assert differential.compare(TWO, [5, 40])[0].divergence is None


def test_a_request_ended_elsewhere_is_a_finding() -> None:
    """Smuggling: the same message, ended at another offset, is no difference any rule explains."""
    mine = differential.ours(TWO)
    first = len(TWO) - len(NEXT)
    assert mine.ends == (first, len(TWO))
    moved = differential.Outcome("h11", mine.messages, (first - 1, len(TWO)), "clean")
    verdict = differential.classify(TWO, mine, moved)
    assert verdict.divergence is not None and verdict.divergence.kind == differential.BOUNDARY
    assert verdict.finding
    assert not any(verdict.finding for verdict in differential.check(TWO + TWO))


def test_a_refusal_is_explained_only_by_the_rule_the_request_breaks() -> None:
    obs_fold = b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"
    h11 = differential.compare(obs_fold)[1]
    assert h11.peer == "h11" and h11.explained == ("obs-fold",)  # h11 unfolds it, ours refuses
    refusing = differential.Outcome("ours", (), (), differential.REFUSED, 400, "")
    verdict = differential.classify(TWO, refusing, differential.with_h11(TWO))
    assert verdict.finding, "ours refusing a valid request must not be explained"


def test_every_known_fault_has_its_regression_case() -> None:
    names = {case.name for case in findings.CASES}
    for explanation in differential.EXPLANATIONS:
        assert re.search(r"RFC (9110|9112) §\d", explanation.rule), explanation.name
        assert not explanation.fault or explanation.fault in names, explanation.fault
    for case in findings.CASES:  # each still differs from a peer as its entry says, or agrees
        for verdict in differential.compare(case.data)[1:]:
            assert not verdict.finding, verdict.divergence and verdict.divergence.describe()


@pytest.mark.parametrize("case", findings.CASES, ids=lambda case: case.name)
def test_a_fixed_core_differs_from_the_peers_only_as_explained(case: Case) -> None:
    """Once the core reads a finding as its case expects, the peer that was right agrees, and
    the other differs from it as an entry of the table explains (never a fault of ours)."""
    fixed = differential.Outcome("ours", *expected_reading(case))
    for peer in differential.PEERS.values():
        verdict = differential.classify(case.data, fixed, peer(case.data))
        assert not verdict.finding, verdict.divergence and verdict.divergence.describe()
        faults = {e.name for e in differential.EXPLANATIONS if e.fault}
        assert faults.isdisjoint(verdict.explained), verdict.explained


def expected_reading(case: Case) -> tuple:
    """Messages, ends, ending and status, as ours reads a case of one outcome once it passes:
    one message ending where the stream ends, or a refusal."""
    [outcome] = case.expected
    if isinstance(outcome, Refused):
        return (), (), differential.REFUSED, outcome.status
    assert isinstance(outcome, Served), outcome
    headers = tuple((name.lower(), value) for name, value in outcome.headers)
    body, keep_alive = outcome.body, not outcome.close
    message = differential.Message(
        outcome.method.encode(), outcome.target, headers, body, keep_alive
    )
    return (message,), (len(case.data),), differential.CLEAN
