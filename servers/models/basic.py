"""basic: accept, read the request, send one fixed response, close (the seed's webserver1).

No application: the answer is the same bytes for every request. The protocol core still reads
the whole request (the original read only its first 1 KiB) and answers bad input with a 4xx.
"""

from servers.blocking import Server
from servers.response import date_header

NEEDS_APP = False
MULTIPROCESS = False
MULTITHREAD = False
KEEP_ALIVE = False

BODY = b"Hello, world!"


def serve(server: Server) -> None:
    for conn, _peer in server.connections():
        with conn:
            try:
                if next(server.requests(conn), None) is not None:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\n"
                        + date_header()
                        + b"Content-Type: text/plain; charset=utf-8\r\n"
                        + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY)
                        + BODY
                    )
            except OSError:
                pass  # the client went away or was too slow: next
