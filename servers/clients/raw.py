"""A raw TCP client that shows exactly what a server puts on the wire (the seed's client1, fixed).

The seed's client1 sent a line that was not HTTP. This one sends a real, complete HTTP/1.1
request over a plain socket (no HTTP library, so nothing is parsed or tidied on the way in) and
prints every byte that comes back, with CR and LF made visible, then says how the exchange ended:
by EOF, or by timeout when the server keeps the connection open (as ``fork_leak`` does on purpose).

    python -m servers.clients.raw [URL] [--method GET] [--header 'Name: value' ...]
                                  [--data TEXT] [--timeout 5] [--raw] [--verbose]

Exit status: 0 when the exchange took place (whatever came back), 1 when the connection could
not be made, 2 for a bad URL, a non-loopback host or a bad option, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import quote, urlsplit

from servers.loopback import (
    LoopbackError,
    format_address,
    resolve_loopback,
    strip_brackets,
)

__all__ = [
    "DEFAULT_URL",
    "USER_AGENT",
    "RawResult",
    "Target",
    "build_request",
    "fetch",
    "main",
    "parse_url",
    "visible",
]

DEFAULT_URL = "http://127.0.0.1:8888/hello/"
USER_AGENT = "servers.clients.raw/1.0"
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 600.0
DEFAULT_MAX_BYTES = 16 * 1024 * 1024

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 token: methods, header names
_BAD_VALUE = re.compile(r"[\x00\r\n]")
# Characters left alone when quoting a request target: RFC 3986 pchar, "/", "?" and "%".
_TARGET_SAFE = "/?%:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class RawResult:
    """What came back: the bytes as received, how reading ended, and how long it all took."""

    data: bytes
    eof: bool  # True when the server closed its side (recv returned b"")
    elapsed: float  # seconds from the start of connect to the end of reading
    ended: str = "eof"  # "eof", "timeout", "reset" or "limit" (max_bytes reached)
    address: str = ""  # the peer actually connected to, e.g. "127.0.0.1:8888"


@dataclass(frozen=True)
class Target:
    """A parsed ``http://`` URL: where to connect and what to put in the request line."""

    host: str  # without brackets, e.g. "::1"
    port: int
    target: str  # request target: path and query, e.g. "/hello/?a=1"


def parse_url(url: str) -> Target:
    """Split an ``http://host[:port]/path?query`` URL; raise ValueError with a one-line reason.

    A URL without a scheme is taken as http. Only http is accepted: this client speaks plain
    TCP, and https would need TLS.
    """
    text = url.strip()
    if not text:
        raise ValueError("empty URL")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"bad URL {url!r}: {exc}") from None
    if parts.scheme.lower() != "http":
        raise ValueError(f"bad URL {url!r}: only http:// is supported (plain TCP, no TLS)")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"bad URL {url!r}: user information is not supported")
    host = parts.hostname
    if not host:
        raise ValueError(f"bad URL {url!r}: no host")
    path = parts.path or "/"
    target = path + (f"?{parts.query}" if parts.query else "")
    return Target(
        host=strip_brackets(host),
        port=port if port is not None else 80,
        target=quote(target, safe=_TARGET_SAFE),
    )


def _host_header(host: str, port: int) -> str:
    """The Host header value: IPv6 literals in brackets, the port unless it is http's 80."""
    name = strip_brackets(host)
    if ":" in name:
        name = f"[{name}]"
    return name if port == 80 else f"{name}:{port}"


def build_request(
    method: str = "GET",
    target: str = "/",
    host: str = "127.0.0.1",
    port: int = 8888,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
    user_agent: str = USER_AGENT,
) -> bytes:
    """Build a complete HTTP/1.1 request, ending with the blank line the seed's clients forgot.

    Headers are Host, User-Agent, the caller's ``headers``, Content-Length (only when ``body``
    is not None) and ``Connection: close``. A caller's header with the same name as one of
    these replaces it in place, so a test can send an odd Host or a keep-alive on purpose.
    Raises ValueError for a method or header name that is not a token, a value with CR, LF or
    NUL, or a target with whitespace: the request stays well-formed HTTP.
    """
    if not _TOKEN.match(method):
        raise ValueError(f"invalid method {method!r}")
    if not target or any(c.isspace() for c in target) or _BAD_VALUE.search(target):
        raise ValueError(f"invalid request target {target!r}")
    fields: list[list[str]] = [["Host", _host_header(host, port)], ["User-Agent", user_agent]]
    tail: list[list[str]] = []
    if body is not None:
        tail.append(["Content-Length", str(len(body))])
    tail.append(["Connection", "close"])
    defaults = {name.lower(): field for name, field in ((f[0], f) for f in fields + tail)}
    replaced: set[str] = set()
    for name, value in headers:
        if not _TOKEN.match(name):
            raise ValueError(f"invalid header name {name!r}")
        if _BAD_VALUE.search(value):
            raise ValueError(f"invalid value for header {name!r}: CR, LF and NUL are not allowed")
        key = name.lower()
        if key in defaults and key not in replaced:
            defaults[key][:] = [name, value]
            replaced.add(key)
        else:
            fields.append([name, value])
    lines = [f"{method} {target} HTTP/1.1"] + [f"{name}: {value}" for name, value in fields + tail]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


def _connect(host: str, port: int, timeout: float) -> tuple[socket.socket, str]:
    """Connect to the first loopback address of ``host`` that accepts, like create_connection."""
    last: OSError | None = None
    for family, sockaddr in resolve_loopback(host, port):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock, format_address(sockaddr)
    assert last is not None  # resolve_loopback never returns an empty list
    raise last


def fetch(
    host: str,
    port: int,
    request_bytes: bytes,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> RawResult:
    """Send ``request_bytes`` to a loopback ``host:port`` and read until EOF, timeout or limit.

    ``timeout`` bounds the connect, then (separately) the whole read: a server that never
    closes the connection costs at most ``timeout`` seconds of reading, and the result says so
    with ``eof=False, ended="timeout"`` instead of hanging. Connection errors (refused, connect
    timeout, ...) are raised as OSError; a non-loopback host raises LoopbackError (a ValueError).
    """
    if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"invalid timeout {timeout!r}: expected a positive number of seconds")
    start = time.monotonic()
    sock, address = _connect(host, port, timeout)
    chunks: list[bytes] = []
    received = 0
    with sock:
        # The server may have answered and closed already: then read what it sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request_bytes)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                ended = "timeout"
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(min(65536, max_bytes - received))
            except TimeoutError:
                ended = "timeout"
                break
            except ConnectionResetError:
                ended = "reset"
                break
            if not chunk:
                ended = "eof"
                break
            chunks.append(chunk)
            received += len(chunk)
            if received >= max_bytes:
                ended = "limit"
                break
    return RawResult(
        data=b"".join(chunks),
        eof=ended == "eof",
        elapsed=time.monotonic() - start,
        ended=ended,
        address=address,
    )


def _escape_table() -> list[str]:
    table = [f"\\x{b:02x}" for b in range(256)]
    for b in range(0x20, 0x7F):
        table[b] = chr(b)
    table[ord("\\")] = "\\\\"
    table[ord("\r")] = "\\r"
    table[ord("\n")] = "\\n"
    table[ord("\t")] = "\\t"
    return table


_ESCAPES = _escape_table()


def visible(data: bytes, prefix: str = "< ") -> list[str]:
    """One printable line per line on the wire, with CR, LF and every non-ASCII byte escaped.

    ``b"HTTP/1.1 200 OK\\r\\n"`` becomes ``< HTTP/1.1 200 OK\\r\\n``, so a bare LF, a missing
    CR or a stray space is as plain on screen as it is to a strict parser.
    """
    lines: list[bytes] = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        lines.append(data[start:end])
        start = end
    return [prefix + "".join(_ESCAPES[b] for b in line) for line in lines]


def _describe(result: RawResult, timeout: float) -> str:
    size = len(result.data)
    unit = "byte" if size == 1 else "bytes"
    head = f"-- {size} {unit} from {result.address} in {result.elapsed:.3f} s; "
    if result.ended == "eof":
        return head + "ended by EOF (the server closed the connection)"
    if result.ended == "timeout":
        return (
            head + f"ended by TIMEOUT: no EOF within {timeout:g} s of reading "
            "(the server kept the connection open)"
        )
    if result.ended == "reset":
        return head + "ended by RESET: the server aborted the connection (ECONNRESET)"
    return head + "stopped at the --max-bytes limit (more may have followed)"


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise argparse.ArgumentTypeError(f"must be > 0 and <= {MAX_TIMEOUT:g} seconds")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m servers.clients.raw",
        description=(
            "Send one complete HTTP/1.1 request over a plain TCP socket to a loopback server "
            "and print exactly what comes back, CR and LF made visible."
        ),
        epilog="Only loopback hosts (127.0.0.0/8, ::1) are allowed. IPv6: http://[::1]:8888/",
    )
    parser.add_argument("url", nargs="?", default=DEFAULT_URL, help=f"default: {DEFAULT_URL}")
    parser.add_argument("-X", "--method", default="GET", help="request method (default: GET)")
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        type=_header,
        metavar="'NAME: VALUE'",
        help="extra header, repeatable; replaces Host, User-Agent, Connection... of that name",
    )
    parser.add_argument(
        "-d",
        "--data",
        default=None,
        metavar="TEXT",
        help="request body, sent as UTF-8 with a Content-Length",
    )
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"seconds to connect, then seconds to read until EOF (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        help="write the received bytes unchanged to stdout; the summary goes to stderr",
    )
    parser.add_argument(
        "--max-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_BYTES,
        metavar="N",
        help=f"stop reading after N bytes (default: {DEFAULT_MAX_BYTES})",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show the request sent, prefixed '> '",
    )
    return parser


def _fail(message: str, code: int) -> int:
    print(f"raw: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status instead of raising."""
    args = _parser().parse_args(argv)
    try:
        where = parse_url(args.url)
        body = None if args.data is None else args.data.encode("utf-8")
        request = build_request(
            args.method, where.target, where.host, where.port, args.header, body
        )
        resolve_loopback(where.host, where.port)
    except ValueError as exc:  # includes LoopbackError
        return _fail(str(exc), 2)
    shown = format_address((where.host, where.port))
    info: TextIO = sys.stderr if args.raw else sys.stdout
    if args.verbose:
        for line in visible(request, prefix="> "):
            print(line, file=info)
    try:
        result = fetch(where.host, where.port, request, args.timeout, max_bytes=args.max_bytes)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except LoopbackError as exc:
        return _fail(str(exc), 2)
    except ConnectionRefusedError:
        return _fail(f"connection refused by {shown} (is a server listening there?)", 1)
    except TimeoutError:
        return _fail(f"timed out after {args.timeout:g} s connecting to {shown}", 1)
    except OSError as exc:
        return _fail(f"cannot connect to {shown}: {exc.strerror or exc}", 1)
    if args.raw:
        sys.stdout.buffer.write(result.data)
        sys.stdout.buffer.flush()
    else:
        for line in visible(result.data):
            print(line)
    print(_describe(result, args.timeout), file=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
