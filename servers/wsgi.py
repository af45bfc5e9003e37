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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from servers.parser import Request
from servers.response import HOP_BY_HOP, LAST_CHUNK, NO_BODY_STATUSES, chunk, head

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class ServerInfo:
    """What the environ says about the server, and how truthfully it runs the app."""

    name: str
    port: int
    software: str
    multithread: bool = False
    multiprocess: bool = False
    keep_alive: bool = True  # the teaching models answer one request per connection


def build_environ(request: Request, server: ServerInfo, peer: tuple[str, int]) -> dict[str, Any]:
    """A complete PEP 3333 environ; strings are latin-1 decoded bytes, as the PEP says."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(request.path).decode("latin-1"),
        "QUERY_STRING": request.query.decode("latin-1"),
        "SERVER_NAME": server.name,
        "SERVER_PORT": str(server.port),
        "SERVER_PROTOCOL": "HTTP/" + request.http_version,
        "SERVER_SOFTWARE": server.software,
        "REMOTE_ADDR": peer[0],
        "REMOTE_PORT": str(peer[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": server.multithread,
        "wsgi.multiprocess": server.multiprocess,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in request.headers:
        name = raw_name.decode("latin-1")
        if "_" in name:
            continue  # Foo_Bar and Foo-Bar would collide in the environ: drop, as nginx does
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
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

    def __init__(
        self, app: WSGIApp, request: Request, server: ServerInfo, peer: tuple[str, int]
    ) -> None:
        self.app = app
        self.request = request
        self.environ = build_environ(request, server, peer)
        self.keep_alive = request.keep_alive and server.keep_alive
        self.status_code = 0
        self._server = server.software.encode("latin-1")
        self._head_only = request.method == "HEAD"
        self._status: str | None = None
        self._headers: list[tuple[str, str]] = []
        self._written: list[bytes] = []
        self._headers_sent = False
        self._length: int | None = None  # declared or known body length
        self._mode = ""  # "length", "chunked", "close" or "none", fixed when the head is sent
        self._sent = 0

    # the application's side ---------------------------------------------------------------

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        """PEP 3333 start_response: may be called again only with exc_info, before any body."""
        if exc_info:
            try:
                if self._headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
            self._written.clear()
        elif self._status is not None:
            raise AssertionError("start_response called a second time without exc_info")
        _check_status(status)
        length: int | None = None
        kept = []
        for name, value in headers:
            _check_header(name, value)
            lowered = name.lower()
            if lowered == "content-length":
                if not value.strip().isdigit():
                    raise AssertionError(f"invalid Content-Length {value!r}")
                length = int(value)
            elif lowered in HOP_BY_HOP:
                if lowered == "connection" and "close" in value.lower():
                    self.keep_alive = False
                continue
            kept.append((name, value))
        self._status, self._headers, self._length = status, kept, length
        self.status_code = int(status[:3])
        return self._write

    def _write(self, data: bytes) -> None:
        """The legacy write() callable: buffered, sent before the iterable's chunks."""
        if self._status is None:
            raise AssertionError("write() called before start_response")
        if not isinstance(data, bytes):
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        self._written.append(data)

    # the server's side --------------------------------------------------------------------

    def chunks(self) -> Iterator[bytes]:
        """Call the application and yield the response bytes, head first."""
        try:
            result = self.app(self.environ, self.start_response)
        except Exception:
            yield self._internal_error()
            return
        try:
            yield from self._respond(result)
        except Exception:
            if self._headers_sent:
                self._log_exception()
                self.keep_alive = False  # the client got part of an answer: cut it short
            else:
                yield self._internal_error()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    self._log_exception()
                    self.keep_alive = False

    def _respond(self, result: Iterable[bytes]) -> Iterator[bytes]:
        single = _length_of(result) == 1 and not self._written
        for data in result:
            if self._status is None:
                raise AssertionError("the application returned a body before start_response")
            if not isinstance(data, bytes):
                raise TypeError(f"the application yielded {type(data).__name__}, not bytes")
            if single and self._length is None:
                self._length = len(data)
            if self._written:
                yield self._frame(b"".join(self._written))
                self._written.clear()
            if data:
                yield self._frame(data)
        if self._status is None:
            raise AssertionError("the application returned without calling start_response")
        if self._written:
            yield self._frame(b"".join(self._written))
            self._written.clear()
        end = self._finish()
        if end:
            yield end

    def _frame(self, data: bytes) -> bytes:
        """Body bytes as they go on the wire, preceded by the head the first time."""
        out = b"" if self._headers_sent else self._head()
        if self._mode == "length":
            room = self._length - self._sent  # type: ignore[operator]
            if len(data) > room:
                data = data[:room]  # more than declared: send what was promised, then close
                self.keep_alive = False
        elif self._mode == "none":
            data = b""
        self._sent += len(data)
        if self._head_only:
            return out
        if self._mode == "chunked":
            return out + chunk(data)
        return out + data

    def _finish(self) -> bytes:
        if not self._headers_sent:
            if self._length is None:
                self._length = 0  # nothing came: the length is known after all
            return self._head()
        if self._mode == "chunked":
            return b"" if self._head_only else LAST_CHUNK
        if self._mode == "length" and self._sent < self._length and not self._head_only:  # type: ignore[operator]
            self.keep_alive = False  # fewer bytes than declared: only a close can say so
        return b""

    def _head(self) -> bytes:
        headers = self._headers
        if self.status_code in NO_BODY_STATUSES:
            self._mode = "none"
        elif self._length is not None:
            self._mode = "length"
            if not any(name.lower() == "content-length" for name, _ in headers):
                headers = [*headers, ("Content-Length", str(self._length))]
        elif self.request.http_version == "1.1":
            self._mode = "chunked"
            headers = [*headers, ("Transfer-Encoding", "chunked")]
        else:
            self._mode = "close"
            self.keep_alive = False
        self._headers_sent = True
        return head(
            self._status,  # type: ignore[arg-type]
            headers,
            server=b"" if _has_header(headers, "server") else self._server,
            keep_alive=self.keep_alive,
            http10=self.request.http_version == "1.0",
        )

    def _internal_error(self) -> bytes:
        """A 500 with no detail for the client; the traceback goes to wsgi.errors."""
        self._log_exception()
        self.keep_alive = False
        self._status, self._length, self._written = None, None, []
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
    try:
        return len(result)  # type: ignore[arg-type]
    except TypeError:
        return None


def _has_header(headers: list[tuple[str, str]], name: str) -> bool:
    return any(key.lower() == name for key, _ in headers)


def _check_status(status: str) -> None:
    if not isinstance(status, str) or len(status) < 4 or not status[:3].isdigit():
        raise AssertionError(f"invalid status {status!r}: expected e.g. '200 OK'")
    if status[3] != " " or "\r" in status or "\n" in status:
        raise AssertionError(f"invalid status {status!r}: expected e.g. '200 OK'")


def _check_header(name: str, value: str) -> None:
    if not isinstance(name, str) or not isinstance(value, str):
        raise AssertionError(f"header {name!r}: name and value must be str")
    if any(c in name for c in ":\r\n \t") or "\r" in value or "\n" in value:
        raise AssertionError(f"invalid header {name!r}: {value!r}")
