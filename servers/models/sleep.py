"""sleep: iterative, then a blocking sleep of --sleep seconds after each response (sleepserver).

Head-of-line blocking: one slow request stalls every client queued behind it.
"""

import time

from servers.blocking import Server

NEEDS_APP = True
MULTIPROCESS = False
MULTITHREAD = False
KEEP_ALIVE = False


def serve(server: Server) -> None:
    for conn, peer in server.connections():
        server.handle(conn, peer)
        time.sleep(server.options.sleep)
