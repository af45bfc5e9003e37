"""What a server is told (Options, from its command line) and what it tells the application
about itself (ServerInfo, in the environ or scope): shared by the core and every model."""

from __future__ import annotations

from dataclasses import dataclass, field

from servers.parser import Limits


@dataclass
class Options:
    """Command-line settings shared by the models."""

    host: str = "127.0.0.1"
    port: int = 8888
    backlog: int = 128
    sleep: float = 0.0
    header_timeout: float = 10.0  # a request (line, headers, body) must arrive within this
    keepalive_timeout: float = 5.0  # an idle keep-alive connection is closed after this
    max_requests: int | None = None
    max_children: int = 1024
    threads: int = 0  # threaded: pool size (0: a thread per connection); asyncio: WSGI pool
    workers: int = 2  # prefork
    shared_socket: bool = False  # prefork: one listening socket for all workers (no SO_REUSEPORT)
    loop: str = "asyncio"  # asyncio, prefork: "asyncio" or "uvloop"
    interface: str = "wsgi"  # "wsgi" or "asgi", resolved from --interface auto
    grace: float = 10.0  # asyncio, prefork: how long in-flight requests may finish on SIGTERM
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class ServerInfo:
    """What the environ says about the server, and how truthfully it runs the app."""

    name: str
    port: int
    software: str
    multithread: bool = False
    multiprocess: bool = False
    keep_alive: bool = True  # the teaching models answer one request per connection
    software_bytes: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "software_bytes", self.software.encode("latin-1"))
