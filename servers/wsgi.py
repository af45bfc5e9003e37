"""Sans-IO WSGI (PEP 3333): a parsed request in, the response's bytes out.

`WSGIExchange` builds the environ, calls the application, and yields the bytes to send; the
model that owns the socket sends them. Framing follows what the application told us:
Content-Length when the length is known (declared, or a one-element body), chunked otherwise
on HTTP/1.1, and end-of-connection on HTTP/1.0.
"""

from __future__ import annotations

import io
import sys
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator, Sized
from typing import Any
from urllib.parse import unquote_to_bytes

from servers.options import ServerInfo
from servers.parser import Request
from servers.response import HOP_BY_HOP, ResponseFramer

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def connection_environ(server: ServerInfo, peer: tuple[str, int]) -> dict[str, Any]:
    """The part of the environ that is the same for every request of one connection."""
    return {
        "SCRIPT_NAME": "",
        "SERVER_NAME": server.name,
        "SERVER_PORT": str(server.port),
        "SERVER_SOFTWARE": server.software,
        "REMOTE_ADDR": peer[0],
        "REMOTE_PORT": str(peer[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": server.multithread,
        "wsgi.multiprocess": server.multiprocess,
        "wsgi.run_once": False,
    }


# Header name -> environ key (None: dropped), learnt as names are seen; bounded, so that a client
# sending endless new names cannot grow it.
_ENVIRON_KEYS: dict[bytes, str | None] = {}
_CACHE_LIMIT = 4096


def _environ_key(raw_name: bytes) -> str | None:
    key = _ENVIRON_KEYS.get(raw_name)
    if key is None and raw_name not in _ENVIRON_KEYS:
        name = raw_name.decode("latin-1")
        if "_" in name:
            key = None  # Foo_Bar and Foo-Bar would collide in the environ: drop, as nginx does
        else:
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
        if len(_ENVIRON_KEYS) < _CACHE_LIMIT:
            _ENVIRON_KEYS[raw_name] = key
    return key


def build_environ(
    request: Request, server: ServerInfo, peer: tuple[str, int], base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A complete PEP 3333 environ; strings are latin-1 decoded bytes, as the PEP says.

    `base` is `connection_environ(server, peer)`, computed once per connection by drivers that
    serve many requests on one.
    """
    environ = (base or connection_environ(server, peer)).copy()
    path = request.path
    environ["REQUEST_METHOD"] = request.method
    environ["PATH_INFO"] = (unquote_to_bytes(path) if b"%" in path else path).decode("latin-1")
    environ["QUERY_STRING"] = request.query.decode("latin-1")
    environ["RAW_URI"] = request.target.decode("latin-1")  # as sent, as gunicorn names it
    environ["SERVER_PROTOCOL"] = "HTTP/" + request.http_version
    environ["wsgi.input"] = io.BytesIO(request.body)
    for raw_name, raw_value in request.headers:
        key = _environ_key(raw_name)
        if key is None:
            continue
        value = raw_value.decode("latin-1")
        if key in environ:
            separator = "; " if key == "HTTP_COOKIE" else ","
            value = environ[key] + separator + value
        environ[key] = value
    if request.body and "CONTENT_LENGTH" not in environ:
        environ["CONTENT_LENGTH"] = str(len(request.body))  # a chunked body, now whole
    return environ


class WSGIExchange:
    """One request through one application: iterate `chunks()` for the bytes to send.

    After the iteration, `keep_alive` says whether the connection can serve another request.
    Closing the generator early (the client went away) still calls the iterable's `close()`.
    """

    __slots__ = (
        "_has_server",
        "_headers",
        "_length",
        "_status",
        "_written",
        "app",
        "environ",
        "framer",
        "request",
        "status_code",
    )

    def __init__(
        self,
        app: WSGIApp,
        request: Request,
        server: ServerInfo,
        peer: tuple[str, int],
        base: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.request = request
        self.environ = build_environ(request, server, peer, base)
        self.framer = ResponseFramer.for_request(request, server)
        self.status_code = 0
        self._status: bytes | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._length: int | None = None  # declared by the application
        self._has_server = False
        self._written: list[bytes] = []

    @property
    def keep_alive(self) -> bool:
        return self.framer.keep_alive

    # the application's side ---------------------------------------------------------------

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        """PEP 3333 start_response: may be called again only with exc_info, before any body."""
        if exc_info:
            try:
                if self.framer.started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
            self._written.clear()
        elif self._status is not None:
            raise AssertionError("start_response called a second time without exc_info")
        status_bytes, status_code = _status_info(status)
        kept, length, has_server, close = _headers_info(headers)
        if close:
            self.framer.keep_alive = False
        self._status, self._headers = status_bytes, kept
        self._length, self._has_server = length, has_server
        self.status_code = status_code
        return self._write

    def _write(self, data: bytes) -> None:
        """The legacy write() callable: buffered, sent before the iterable's chunks."""
        if self._status is None:
            raise AssertionError("write() called before start_response")
        if not isinstance(data, bytes):
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        self._written.append(data)

    # the server's side --------------------------------------------------------------------

    def chunks(self) -> Generator[bytes, None, None]:
        """Call the application and yield the response bytes, head first."""
        try:
            result = self.app(self.environ, self.start_response)
        except Exception:
            yield self._internal_error()
            return
        if (
            type(result) is list
            and len(result) == 1
            and type(result[0]) is bytes
            and self._status is not None
            and not self._written
        ):  # the usual answer, a whole body in a list: one piece of bytes to send
            yield self._frame(result[0], len(result[0])) + self.framer.end()
            return
        try:
            yield from self._respond(result)
        except Exception:
            if self.framer.started:
                self._log_exception()
                self.framer.keep_alive = False  # the client got part of an answer: cut it short
            else:
                yield self._internal_error()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    self._log_exception()
                    self.framer.keep_alive = False

    def _respond(self, result: Iterable[bytes]) -> Iterator[bytes]:
        single = _length_of(result) == 1 and not self._written
        for data in result:
            if self._status is None:
                raise AssertionError("the application returned a body before start_response")
            if not isinstance(data, bytes):
                raise TypeError(f"the application yielded {type(data).__name__}, not bytes")
            if self._written:
                yield self._frame(b"".join(self._written))
                self._written.clear()
            if single:  # the whole body is at hand: its length is known
                yield self._frame(data, len(data))
            elif data:
                yield self._frame(data)
        if self._status is None:
            raise AssertionError("the application returned without calling start_response")
        if self._written:
            yield self._frame(b"".join(self._written))
            self._written.clear()
        if not self.framer.started:
            yield self._frame(b"", 0)  # nothing came: the length is known after all
        end = self.framer.end()
        if end:
            yield end

    def _frame(self, data: bytes, length: int | None = None) -> bytes:
        """Body bytes as they go on the wire, preceded by the head the first time."""
        framer = self.framer
        if framer.started:
            return framer.body(data)
        declared = self._length
        assert self._status is not None  # start_response came before the first bytes
        head = framer.head(
            self._status,
            self.status_code,
            self._headers,
            declared if declared is not None else length,
            has_length_header=declared is not None,
            has_server_header=self._has_server,
        )
        return head + framer.body(data)

    def _internal_error(self) -> bytes:
        """A 500 with no detail for the client; the traceback goes to wsgi.errors."""
        self._log_exception()
        self.framer.keep_alive = False
        self._status, self._written = None, []
        body = b"500 Internal Server Error\n"
        self.start_response(
            "500 Internal Server Error",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return self._frame(body)

    def _log_exception(self) -> None:
        errors = self.environ["wsgi.errors"]
        request = self.request
        errors.write(f"error serving {request.method} {request.target.decode('latin-1')}:\n")
        errors.write(traceback.format_exc())
        errors.flush()


def _length_of(result: Iterable[bytes]) -> int | None:
    return len(result) if isinstance(result, Sized) else None


_PLAIN, _LENGTH, _SERVER, _CONNECTION, _HOP = "plain", "length", "server", "connection", "hop"
_HEADER_INFO: dict[str, tuple[str, bytes]] = {}
_STATUS_INFO: dict[str, tuple[bytes, int]] = {}


def _header_info(name: str) -> tuple[str, bytes]:
    """What a response header name is to the server, and its bytes; checked once per name."""
    info = _HEADER_INFO.get(name)
    if info is None:
        if not isinstance(name, str) or not name or any(c in name for c in ":\r\n \t"):
            raise AssertionError(f"invalid header name {name!r}")
        lowered = name.lower()
        if lowered == "content-length":
            kind = _LENGTH
        elif lowered == "server":
            kind = _SERVER
        elif lowered == "connection":
            kind = _CONNECTION
        elif lowered in HOP_BY_HOP:
            kind = _HOP
        else:
            kind = _PLAIN
        info = (kind, name.encode("latin-1"))
        if len(_HEADER_INFO) < _CACHE_LIMIT:
            _HEADER_INFO[name] = info
    return info


_HEADERS_INFO: dict[tuple, tuple[list[tuple[bytes, bytes]], int | None, bool, bool]] = {}


def _headers_info(
    headers: list[tuple[str, str]],
) -> tuple[list[tuple[bytes, bytes]], int | None, bool, bool]:
    """(headers as bytes without hop-by-hop ones, Content-Length, has Server, says close).

    Applications mostly send the same header list every time: it is checked once per distinct
    list (while the cache has room), then looked up.
    """
    try:
        key = tuple(headers)
        info = _HEADERS_INFO.get(key)
    except TypeError:  # something unhashable: not a valid header list; checked below
        key, info = None, None
    if info is not None:
        return info
    length: int | None = None
    has_server = close = False
    kept = []
    for name, value in headers:
        kind, name_bytes = _header_info(name)
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise AssertionError(f"invalid value for header {name!r}: {value!r}")
        if kind is _PLAIN:
            kept.append((name_bytes, value.encode("latin-1")))
        elif kind is _LENGTH:
            if not value.strip().isdigit():
                raise AssertionError(f"invalid Content-Length {value!r}")
            length = int(value)
            kept.append((name_bytes, value.encode("latin-1")))
        elif kind is _SERVER:
            has_server = True
            kept.append((name_bytes, value.encode("latin-1")))
        elif kind is _CONNECTION and "close" in value.lower():
            close = True  # other hop-by-hop headers are the server's to decide
    info = (kept, length, has_server, close)
    if key is not None and len(_HEADERS_INFO) < _CACHE_LIMIT:
        _HEADERS_INFO[key] = info
    return info


def _status_info(status: str) -> tuple[bytes, int]:
    """A status line's bytes and code; checked once per distinct status."""
    info = _STATUS_INFO.get(status)
    if info is None:
        if (
            not isinstance(status, str)
            or len(status) < 4
            or not status[:3].isdigit()
            or status[3] != " "
            or "\r" in status
            or "\n" in status
        ):
            raise AssertionError(f"invalid status {status!r}: expected e.g. '200 OK'")
        info = (status.encode("latin-1"), int(status[:3]))
        if len(_STATUS_INFO) < _CACHE_LIMIT:
            _STATUS_INFO[status] = info
    return info
