"""fork_leak: fork per connection, but the parent keeps every client socket (concurrentserver2).

The lesson kept on purpose: with the parent's duplicate descriptor open, the connection never
closes, so a client that reads to EOF hangs; the parent's descriptors grow by one per
connection until accept() fails with EMFILE; and nothing reaps, so zombies pile up.
"""

from servers.blocking import Server

NEEDS_APP = True
MULTIPROCESS = True
MULTITHREAD = False
KEEP_ALIVE = False


def serve(server: Server) -> None:
    kept = []  # the parent's copy of every client socket, never closed
    for conn, peer in server.connections():
        server.fork_child(conn, peer)
        kept.append(conn)
