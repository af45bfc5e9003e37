"""The floor for fork-per-connection: fork, one read, a fixed answer, close; children reaped.

`python -m bench.scenarios.peers.fork_fixed PORT`: the peer of `fork_reap` in the ceiling
benchmark, so
the cost of our protocol core over the bare fork() is measured, not guessed.
"""

import os
import signal
import socket
import sys

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n"
    b"Connection: close\r\n\r\nHello, world!"
)

signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps: no zombies
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen(1024)
while True:
    conn, _ = listener.accept()
    if os.fork() == 0:
        listener.close()
        conn.recv(65536)
        conn.sendall(RESPONSE)
        conn.close()
        os._exit(0)
    conn.close()
