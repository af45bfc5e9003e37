"""Small HTTP helpers for the tests: strict response parsing and raw socket exchanges."""

from __future__ import annotations

import http.client
import io
import re
import socket
import time
from dataclasses import dataclass


class _KeptOpen(io.BytesIO):
    def close(self) -> None:  # http.client closes the file after the body; keep the rest
        pass


class _BytesSocket:
    def __init__(self, data: bytes) -> None:
        self._file = _KeptOpen(data)

    def makefile(self, mode: str) -> io.BytesIO:
        return self._file


@dataclass
class Parsed:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    version: int
    rest: bytes  # bytes after this response (pipelining)


def parse_response(data: bytes, method: str = "GET") -> Parsed:
    """Parse one response with http.client, which rejects malformed status lines and framing."""
    sock = _BytesSocket(data)
    response = http.client.HTTPResponse(sock, method=method)  # type: ignore[arg-type]
    response.begin()
    body = response.read()
    rest = sock._file.read()
    return Parsed(response.status, response.headers, body, response.version, rest)


def exchange(
    port: int, data: bytes | list[bytes], timeout: float = 5.0, pause: float = 0.0
) -> bytes:
    """Send `data` (pieces sent apart by `pause`) to 127.0.0.1:port; read until EOF."""
    pieces = [data] if isinstance(data, bytes) else data
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for piece in pieces:
            sock.sendall(piece)
            if pause:
                time.sleep(pause)
        return read_to_eof(sock)


def read_response(sock: socket.socket) -> bytes:
    """Read one Content-Length framed response, without waiting for EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            return data
        data += piece
    head = data.partition(b"\r\n\r\n")[0]
    length = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
    while len(data) < len(head) + 4 + length:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return data


def read_responses(sock: socket.socket, count: int) -> list[Parsed]:
    """Read `count` responses in a row from one connection (pipelining)."""
    stream = sock.makefile("rb")
    responses = []
    for _ in range(count):
        response = http.client.HTTPResponse(_FileSocket(stream))  # type: ignore[arg-type]
        response.begin()
        body = response.read()
        responses.append(Parsed(response.status, response.headers, body, response.version, b""))
    return responses


class _FileSocket:
    """Hands http.client one shared buffered stream, which it must not close."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def makefile(self, mode: str):
        stream = self._stream

        class Unclosable:
            def __getattr__(self, name):
                return getattr(stream, name)

            def close(self) -> None:
                pass

        return Unclosable()


def read_to_eof(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request with http.client (a strict, independent parser of our responses)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()
