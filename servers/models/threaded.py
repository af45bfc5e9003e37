"""threaded: a thread per connection, with keep-alive (--threads N: a bounded pool instead).

Threads let blocking views overlap; the GIL lets only one run Python at a time. A bounded pool
caps memory, but each keep-alive connection holds a thread until it goes idle and times out.
"""

import queue
import threading

from servers.blocking import Server

NEEDS_APP = True
MULTIPROCESS = False
MULTITHREAD = True
KEEP_ALIVE = True


def serve(server: Server) -> None:
    if server.options.threads:
        serve_with_pool(server, server.options.threads)
        return
    for conn, peer in server.connections():
        threading.Thread(target=server.handle, args=(conn, peer), daemon=True).start()


def serve_with_pool(server: Server, size: int) -> None:
    accepted: queue.SimpleQueue = queue.SimpleQueue()

    def worker() -> None:
        while True:
            server.handle(*accepted.get())

    for index in range(size):
        threading.Thread(target=worker, name=f"worker-{index}", daemon=True).start()
    for conn, peer in server.connections():
        accepted.put((conn, peer))
