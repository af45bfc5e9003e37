"""fork_wait: fork per connection; a SIGCHLD handler calls os.wait() once (concurrentserver3).

The lesson kept on purpose: signals coalesce. When children end in a burst, several SIGCHLDs
arrive as one, the handler reaps one child per call, and the others stay zombies.
"""

import os
import signal

from servers.blocking import Server

NEEDS_APP = True
MULTIPROCESS = True
MULTITHREAD = False
KEEP_ALIVE = False


def serve(server: Server) -> None:
    def reap_one(signum: int, frame: object) -> None:
        try:
            os.wait()
        except ChildProcessError:
            return
        server.reaped()

    signal.signal(signal.SIGCHLD, reap_one)
    for conn, peer in server.connections():
        server.fork_child(conn, peer)
        conn.close()
