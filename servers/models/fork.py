"""fork: fork a child per connection; the parent closes its copy; nothing reaps (concurrentserver).

Concurrency through processes. The lesson kept on purpose: every finished child stays a zombie,
because the parent never waits for it.
"""

from servers.blocking import Server

NEEDS_APP = True
MULTIPROCESS = True
MULTITHREAD = False
KEEP_ALIVE = False


def serve(server: Server) -> None:
    for conn, peer in server.connections():
        server.fork_child(conn, peer)
        conn.close()
