"""iterative: one connection at a time: accept, serve, close, next (iterativeserver, wsgiserver).

Throughput is at most one over the service time: while one client is served, every other
client waits in the listen backlog.
"""

from servers.blocking import Server

NEEDS_APP = True
MULTIPROCESS = False
MULTITHREAD = False
KEEP_ALIVE = False


def serve(server: Server) -> None:
    for conn, peer in server.connections():
        server.handle(conn, peer)
