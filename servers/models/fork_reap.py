"""fork_reap: fork per connection; SIGCHLD reaps every ended child (concurrentserver_final).

The fix: the handler loops waitpid(-1, WNOHANG) until no ended child is left, so coalesced
signals lose nothing and no zombie remains, however bursty the load.
"""

import os
import signal

from servers.blocking import Server

NEEDS_APP = True
MULTIPROCESS = True
MULTITHREAD = False
KEEP_ALIVE = False


def serve(server: Server) -> None:
    def reap_all(signum: int, frame: object) -> None:
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return  # no children at all
            if pid == 0:
                return  # children left, none ended
            server.reaped()

    signal.signal(signal.SIGCHLD, reap_all)
    for conn, peer in server.connections():
        server.fork_child(conn, peer)
        conn.close()
