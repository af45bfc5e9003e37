"""Where each request begins and ends on a connection, and the raw lines llhttp does not show.

llhttp (servers/parser.py's engine) checks most of the request grammar, but it reports no byte
offsets, and it is lenient where RFC 9112 is not: it takes `RTSP/1.0` and `ICE/1.0` for a
protocol name, several spaces between the parts of the request line, a chunk extension
without a name, and chunk extensions of any length. To judge those, `Wire` cuts the stream at
the places that matter before llhttp reads it: each request line and each chunk-size line is
held until it is whole and checked here, then handed on with the rest of its section. The
parser tells it the body's framing once llhttp has read the head (`framing`), so the two agree
on where every message ends. Wherever llhttp refuses, its refusal stands: this module only
adds refusals, and never decides that something llhttp refused is fine, but for one rewrite:
a tab in the whitespace that ends a header field line becomes a space before llhttp reads it
(RFC 9110 §5.5: that whitespace is no part of the value), since llhttp frames the body on the
raw value and would refuse `Transfer-Encoding: chunked<HTAB>`, which it takes with a space.
The whitespace is held across reads until its line's end shows whether it ends the line.
"""

from __future__ import annotations

import re

_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
# RFC 9112 §3: request-line = method SP request-target SP HTTP-version, one space each, the
# protocol name "HTTP" exactly (§2.3). The target's own grammar is llhttp's to check.
_REQUEST_LINE = re.compile(rb"%s+ [^\x00-\x20\x7f]+ HTTP/[0-9]\.[0-9]\r\n" % _TCHAR)
# HTTP/0.9's line has no version: llhttp tells it (505) from a request line cut short (400)
_HTTP_09 = re.compile(rb"%s+ [^\x00-\x20\x7f]+\r\n" % _TCHAR)
# RFC 9112 §7.1 and §7.1.1: chunk-size [ chunk-ext ] CRLF, every extension with a name.
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_EXTENSION = rb"[ \t]*;[ \t]*%s+(?:[ \t]*=[ \t]*(?:%s+|%s))?" % (_TCHAR, _TCHAR, _QUOTED)
_CHUNK_LINE = re.compile(rb"0*([0-9A-Fa-f]{1,16})((?:%s)*)\r\n" % _EXTENSION)
# whitespace with a tab in it ending a field line, and such whitespace cut by a read's end
_TAB_BEFORE_CRLF = re.compile(rb"[ \t]*\t[ \t]*(?=\r\n)")
_TAB_AT_END = re.compile(rb"[ \t]*\t[ \t]*\r?\Z")


class ProtocolError(Exception):
    """A request that cannot be served: answered with `status`, then the connection closes."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


LINE, HEAD, FRAMING, BODY, CHUNK_LINE, CHUNK_DATA, TRAILERS = range(7)


class Wire:
    """A connection's position in its stream: which part of which message comes next.

    `cut(data, pos)` returns the next piece of `data` for llhttp (the bytes of one section, or
    as far as `data` goes) and where the rest begins; a line not yet whole is held back and
    comes out whole, with what follows it in the same read.
    """

    __slots__ = (
        "_cr",
        "_held",
        "_ows",
        "_remaining",
        "_tail",
        "ext_bytes",
        "max_ext",
        "max_line",
        "state",
    )

    def __init__(self, max_line: int, max_ext: int) -> None:
        self.max_line = max_line  # the longest request line held before it is refused (414)
        self.max_ext = max_ext  # the chunk extensions one message may carry, in bytes
        self.state = LINE
        self._held = b""  # the start of a line whose end has not come yet
        self._tail = b""  # the last bytes of a head or trailer section, to find its end
        self._remaining = 0  # bytes left in a body of known length, or in a chunk and its CRLF
        self.ext_bytes = 0  # chunk extension bytes met in the current message
        self._cr = False  # a read between requests ended with a CR: its LF comes next
        self._ows = b""  # whitespace with a tab that ended a read inside a head: its line's end?

    @property
    def holding(self) -> bool:
        """True while part of a request line is held back (llhttp has not seen it yet)."""
        return bool(self._held)

    def framing(self, length: int | None, chunked: bool) -> None:
        """What llhttp found in the head: the body's length, or chunked, or none at all."""
        self.ext_bytes = 0
        if chunked:
            self.state = CHUNK_LINE
        elif length:
            self.state, self._remaining = BODY, length
        else:
            self.state = LINE

    def cut(self, data: bytes, pos: int) -> tuple[bytes, int]:
        """The next piece for llhttp and the position after it; ProtocolError for a bad line."""
        state = self.state
        if state == LINE:
            if not (self._held or self._cr):  # the usual: a whole request line and head here
                line = _REQUEST_LINE.match(data, pos)
                if line is not None:
                    end = data.find(b"\r\n\r\n", line.end() - 2)
                    if end >= 0:
                        end += 4
                        self.state = FRAMING
                        head = data if end == len(data) and not pos else data[pos:end]
                        return (_spaces(head) if b"\t" in head else head), end
            piece, end = self._request_line(data, pos)
            return self._head(piece), end
        if state in (CHUNK_LINE, CHUNK_DATA):
            return self._chunks(data, pos)
        if state == HEAD:
            piece, end = self._section(data, pos)
            return self._head(piece), end
        if state == TRAILERS:
            return self._section(data, pos)
        if state == BODY:
            end = min(len(data), pos + self._remaining)
            self._remaining -= end - pos
            if not self._remaining:
                self.state = LINE
            return data[pos:end], end
        return data[pos:], len(data)  # FRAMING: llhttp stopped in the head; it says why

    def _head(self, piece: bytes) -> bytes:
        """A piece of a head as llhttp should read it: a tab in the whitespace ending a field
        line turned into a space; such whitespace cut by the read's end held until the next."""
        if self._ows:
            piece, self._ows = self._ows + piece, b""
        if b"\t" not in piece:
            return piece
        if self.state == HEAD:  # the head goes on in a later read
            cut = _TAB_AT_END.search(piece)
            if cut is not None:
                piece, self._ows = piece[: cut.start()], piece[cut.start() :]
        return _spaces(piece)

    def _chunks(self, data: bytes, pos: int) -> tuple[bytes, int]:
        """As many chunks as this read holds whole, in one piece; a line cut by the read's end
        is held until it is whole (`_chunk_line`)."""
        end, size = pos, len(data)
        while end < size:
            if self.state == CHUNK_DATA:
                stop = min(size, end + self._remaining)
                self._remaining -= stop - end
                end = stop
                if self._remaining:
                    break
                self.state = CHUNK_LINE
            elif self.state != CHUNK_LINE or self._held:
                break
            else:
                match = _CHUNK_LINE.match(data, end)
                if match is None:  # cut by the read's end, or malformed: judged line by line
                    break
                end = match.end()
                self._chunk_read(match)
                if self.state == TRAILERS:
                    if data[end : end + 2] == b"\r\n":  # no trailer fields: the message ends
                        end += 2
                        self.state, self._tail = LINE, b""
                    break
        if end > pos:
            return data[pos:end], end
        return self._chunk_line(data, pos) if self.state == CHUNK_LINE else self._section(data, pos)

    def _chunk_read(self, match: re.Match[bytes]) -> None:
        """Account a chunk-size line: its extensions against the limit, then its data."""
        self.ext_bytes += len(match[2])
        if self.ext_bytes > self.max_ext:
            raise ProtocolError(400, f"chunk extensions over {self.max_ext} bytes")
        size = int(match[1], 16)
        if size:
            self.state, self._remaining = CHUNK_DATA, size + 2
        else:
            self.state, self._tail = TRAILERS, b"\r\n"

    def _line(self, data: bytes, pos: int, limit: int) -> tuple[bytes, int]:
        """A whole line (held bytes and this read's up to its LF), or b"" while it is not."""
        end = data.find(b"\n", pos)
        if end < 0:
            self._held += data[pos:]
            if len(self._held) > limit:
                raise _too_long(self.state, self._held)
            return b"", len(data)
        end += 1
        line = self._held + data[pos:end] if self._held else data[pos:end]
        self._held = b""
        if len(line) > limit + 2:
            raise _too_long(self.state, line)
        return line, end

    def _request_line(self, data: bytes, pos: int) -> tuple[bytes, int]:
        held = bool(self._held)
        if not held:
            pos = self._skip_empty_lines(data, pos)
            if pos == len(data):
                return b"", pos
        line, end = self._line(data, pos, self.max_line)
        if not line:
            return b"", end
        if _REQUEST_LINE.fullmatch(line) is None and _HTTP_09.fullmatch(line) is None:
            raise ProtocolError(400, "malformed request line")
        self.state, self._tail = HEAD, b"\r\n"
        head, after = self._section(data, end)
        # the line and its head: one slice of this read, unless the line began in an earlier one
        return (line + head if held else data[pos:after]), after

    def _skip_empty_lines(self, data: bytes, pos: int) -> int:
        """Past the empty lines (CRLF) before a request line, which RFC 9112 §2.2 says to ignore;
        a CR that ends a read waits for its LF, a CR before any other byte is refused. A bare
        LF is left for the request line to refuse."""
        size = len(data)
        while pos < size:
            if self._cr:
                if data[pos] != 10:
                    raise ProtocolError(400, "a bare CR before the request line")
                self._cr, pos = False, pos + 1
            elif data.startswith(b"\r\n", pos):
                pos += 2
            elif data[pos] != 13:
                break
            elif pos + 1 == size:
                self._cr, pos = True, size
            else:  # a CR and a byte other than LF, whichever read that byte comes in
                raise ProtocolError(400, "a bare CR before the request line")
        return pos

    def _section(self, data: bytes, pos: int) -> tuple[bytes, int]:
        """A head or trailer section up to its empty line, or as far as this read goes."""
        tail = self._tail
        found = (tail + data[pos : pos + 4]).find(b"\r\n\r\n") if tail else -1
        if found >= 0:
            end = pos + found + 4 - len(tail)
        else:
            found = data.find(b"\r\n\r\n", pos)
            if found < 0:
                self._tail = (tail + data[pos:])[-3:]
                return data[pos:], len(data)
            end = found + 4
        self._tail = b""
        self.state = FRAMING if self.state == HEAD else LINE
        return data[pos:end], end

    def _chunk_line(self, data: bytes, pos: int) -> tuple[bytes, int]:
        line, end = self._line(data, pos, self.max_ext + 20 - self.ext_bytes)
        if not line:
            return b"", end
        match = _CHUNK_LINE.fullmatch(line)
        if match is None:
            raise ProtocolError(400, "malformed chunk-size line")
        self._chunk_read(match)
        return line, end


def _spaces(head: bytes) -> bytes:
    return _TAB_BEFORE_CRLF.sub(lambda run: b" " * len(run[0]), head)


def _too_long(state: int, held: bytes) -> ProtocolError:
    if state == CHUNK_LINE:
        return ProtocolError(400, "chunk extensions too long")
    if b" " in held:
        return ProtocolError(414, "request target too long")
    return ProtocolError(400, "malformed request line")
