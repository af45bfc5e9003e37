"""A server of known cost, for the accounting's tests: it forks a child per connection; the
child burns BURN seconds of CPU by its own clock, answers "Hello, world!" and exits; the parent
reaps every child at once (SIGCHLD, a waitpid loop) and says how many it has reaped. With
"daemon" it also starts a daemon (double fork, a session of its own) that only sleeps.

    python tests/forking_burner.py PORT BURN [daemon]     (PORT 0: any free port)
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
    b"Connection: close\r\n\r\nHello, world!"
)


def say(line: str) -> None:
    """One line in one write: the daemon and the server share their output."""
    os.write(1, f"{line}\n".encode())


def serve(port: int, burn: float, daemon: bool) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    if daemon and os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            say(f"daemon {os.getpid()}")
            time.sleep(60)
        os._exit(0)
    reaped = 0

    def reap(*_: object) -> None:
        nonlocal reaped
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            reaped += 1
        say(f"reaped {reaped}")

    signal.signal(signal.SIGCHLD, reap)
    time.sleep(0.1)  # the daemon's line first
    say(f"serving burner on http://127.0.0.1:{listener.getsockname()[1]} ")
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            listener.close()
            conn.recv(65536)
            began = time.process_time()
            while time.process_time() - began < burn:
                pass
            conn.sendall(ANSWER)
            conn.close()
            os._exit(0)
        conn.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:] == ["daemon"])
