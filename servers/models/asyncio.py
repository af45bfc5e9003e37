"""asyncio: one event loop serves every connection, with keep-alive (--loop asyncio|uvloop).

No process or thread per client: while one request waits, the loop serves others. The price:
a WSGI view that blocks (served inline, the default) blocks every client; `--threads N` moves
WSGI views to a pool, and ASGI apps (Django's asgi.py) await without blocking anyone.
"""

from servers import aio
from servers.blocking import Server

NEEDS_APP = True
MULTIPROCESS = False
MULTITHREAD = False  # True with --threads
KEEP_ALIVE = True
SPEAKS_ASGI = True


def serve(server: Server) -> None:
    aio.run(server)
