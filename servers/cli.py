"""The command line: `python -m servers MODEL module:callable [options]` and `--list`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from types import ModuleType

from servers import __version__
from servers.blocking import Server, Stop, listen, log
from servers.loader import AppLoadError, is_asgi, load_app
from servers.models import MODELS
from servers.options import Options, ServerInfo
from servers.parser import Limits


def model_module(name: str) -> ModuleType:
    """The module of a model, by name."""
    return importlib.import_module(f"servers.models.{name}")


def describe(name: str) -> str:
    """A model's one-line description: the first line of its docstring, less its name."""
    first = (model_module(name).__doc__ or "").strip().splitlines()[0]
    return first.split(":", 1)[1].strip() if ":" in first else first


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m servers",
        description="Run one of the teaching web servers on a WSGI application.",
        epilog="Example: python -m servers fork_reap helloworld.wsgi:application --port 8888 "
        "(options may come before, between or after MODEL and the app, as with uvicorn and "
        "gunicorn: python -m servers asyncio --loop uvloop helloworld.wsgi:application -b :8000)",
    )
    parser.add_argument(
        "model", nargs="?", choices=MODELS, metavar="MODEL", help="concurrency model (see --list)"
    )
    parser.add_argument(
        "app",
        nargs="?",
        metavar="module:callable",
        help="WSGI application to serve, e.g. helloworld.wsgi:application",
    )
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)"
    )
    parser.add_argument(
        "--port", type=_port, default=8888, help="port to bind; 0 picks a free one (default 8888)"
    )
    parser.add_argument(
        "-b",
        "--bind",
        type=_bind,
        metavar="HOST:PORT",
        help="address and port at once, as gunicorn takes them: 127.0.0.1:8000, :8000 (the "
        "loopback), [::1]:8000; overrides --host and --port",
    )
    parser.add_argument(
        "--backlog", type=_positive_int, default=128, help="listen() backlog (default 128)"
    )
    parser.add_argument(
        "--sleep",
        type=_non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="sleep model: pause after each response; fork models: the child "
        "pauses after serving, so children stay alive (default 0)",
    )
    parser.add_argument(
        "--header-timeout",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="a request must arrive whole within this many seconds of its first byte, or of "
        "the connection; a slow one gets 408 (default 10)",
    )
    parser.add_argument(
        "--keepalive-timeout",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="close a keep-alive connection idle for this long (default 5)",
    )
    parser.add_argument(
        "--threads",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="threaded: a pool of N threads instead of one per connection; asyncio, prefork: "
        "run WSGI views in a pool of N threads instead of inline on the loop (default 0)",
    )
    parser.add_argument(
        "-w",
        "--workers",
        type=_positive_int,
        default=2,
        metavar="N",
        help="prefork: number of worker processes (default 2)",
    )
    parser.add_argument(
        "--shared-socket",
        action="store_true",
        help="prefork: the workers share one listening socket, as gunicorn's and uvicorn's do, "
        "and whichever wakes first may accept every waiting connection (default: a socket "
        "each on the same port, SO_REUSEPORT, and the kernel spreads the connections)",
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="asyncio, prefork: the event loop (default asyncio, the stock loop)",
    )
    parser.add_argument(
        "--interface",
        choices=("auto", "wsgi", "asgi"),
        default="auto",
        help="asyncio, prefork: how to call the app; auto takes ASGI for a coroutine "
        "function (default auto)",
    )
    parser.add_argument(
        "--grace",
        type=_non_negative_float,
        default=10.0,
        metavar="SECONDS",
        help="asyncio, prefork: on SIGTERM, how long requests in flight may finish (default 10)",
    )
    parser.add_argument(
        "--max-requests",
        type=_positive_int,
        default=None,
        metavar="N",
        help="exit after accepting N connections (a bound for leaking models)",
    )
    parser.add_argument(
        "--max-children",
        type=_positive_int,
        default=1024,
        metavar="N",
        help="fork models: answer 503 instead of forking past N unreaped "
        "children, a safety bound for the process table (default 1024)",
    )
    parser.add_argument(
        "--max-body",
        type=_positive_int,
        default=Limits.max_body_bytes,
        metavar="BYTES",
        help="largest request body; larger gets 413",
    )
    parser.add_argument(
        "--max-header-bytes",
        type=_positive_int,
        default=Limits.max_header_bytes,
        metavar="BYTES",
        help="largest header block; larger gets 431",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_intermixed_args(argv)
    if args.bind is not None:
        args.host, args.port = args.bind
    if args.list:
        for name in MODELS:
            print(f"{name:<10} {describe(name)}")
        return 0
    if args.model is None:
        parser.error("a MODEL is required (see --list)")
    module = model_module(args.model)
    app = None
    if module.NEEDS_APP:
        if args.app is None:
            parser.error(f"model {args.model} needs an application: MODEL module:callable")
        try:
            app = load_app(args.app)
        except AppLoadError as exc:
            print(f"python -m servers: error: {exc}", file=sys.stderr)
            return 2
    elif args.app is not None:
        log(f"{args.model} answers every request with a fixed response; ignoring {args.app}")
    interface = args.interface
    if interface == "auto":
        interface = "asgi" if app is not None and is_asgi(app) else "wsgi"
    if interface == "asgi" and not getattr(module, "SPEAKS_ASGI", False):
        print(
            f"python -m servers: error: {args.app} is an ASGI application; model "
            f"{args.model} serves WSGI only (use asyncio or prefork)",
            file=sys.stderr,
        )
        return 2

    if args.host not in ("127.0.0.1", "::1", "localhost") and not _is_loopback(args.host):
        log(f"WARNING: binding to {args.host}, reachable beyond this machine")
    options = Options(
        host=args.host,
        port=args.port,
        backlog=args.backlog,
        sleep=args.sleep,
        header_timeout=args.header_timeout,
        keepalive_timeout=args.keepalive_timeout,
        max_requests=args.max_requests,
        max_children=args.max_children,
        threads=args.threads,
        workers=args.workers,
        shared_socket=args.shared_socket,
        loop=args.loop,
        interface=interface,
        grace=args.grace,
        limits=Limits(max_body_bytes=args.max_body, max_header_bytes=args.max_header_bytes),
    )
    try:
        reuse_port = getattr(module, "REUSE_PORT", False) and not options.shared_socket
        listener = listen(options.host, options.port, options.backlog, reuse_port)
    except OSError as exc:
        print(
            f"python -m servers: error: cannot listen on {options.host}:{options.port}: "
            f"{exc.strerror}",
            file=sys.stderr,
        )
        return 1
    host, port = listener.getsockname()[:2]
    info = ServerInfo(
        name=host,
        port=port,
        software=f"servers/{__version__} ({args.model})",
        multithread=module.MULTITHREAD or bool(args.threads),
        multiprocess=module.MULTIPROCESS,
        keep_alive=module.KEEP_ALIVE,
    )
    server = Server(listener, app, info, options)
    server.install_stop_handlers()
    shown = f"[{host}]" if ":" in host else host
    details = []
    if getattr(module, "SPEAKS_ASGI", False):
        details += [interface.upper(), f"{args.loop} loop"]
    if args.threads:
        details.append(f"{args.threads} threads")
    if args.model == "prefork":
        shared = "one shared socket" if args.shared_socket else "a socket each"
        details.append(f"{args.workers} workers, {shared}")
    described = f"{args.app or 'a fixed response'}" + (
        f" ({', '.join(details)})" if details else ""
    )
    log(f"{args.model} serving {described} on http://{shown}:{port} (pid {os.getpid()})")
    try:
        module.serve(server)
    except (Stop, KeyboardInterrupt) as exc:
        failures = f"; {server.failures_so_far()}" if server.accept_failures else ""
        progress = f"; {server.progress_so_far()}" if server.most_in_progress else ""
        log(f"stopping on {exc or 'SIGINT'}{failures}{progress}")
    finally:
        listener.close()
    return 0


def _bind(text: str) -> tuple[str, int]:
    """'HOST:PORT', ':PORT' (loopback) or '[V6]:PORT', as gunicorn's --bind takes it."""
    host, colon, port = text.rpartition(":")
    if not colon:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 127.0.0.1:8000, got {text!r}")
    return (host.strip("[]") or "127.0.0.1"), _port(port)


def _is_loopback(host: str) -> bool:
    from servers.loopback import is_loopback  # ipaddress is a large import for a rare case

    return is_loopback(host)


def _number(convert: Callable[[str], float], ok: Callable[[float], bool], words: str):
    """An argparse type: a number that must be `words`, with a one-line error otherwise."""

    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {words}, got {text}")
        return value

    return parse


_positive_int = _number(int, lambda value: value > 0, "a positive whole number")
_port = _number(int, lambda value: 0 <= value <= 65535, "a port number from 0 to 65535")
_positive_float = _number(float, lambda value: value > 0, "a positive number")
_non_negative_int = _number(int, lambda value: value >= 0, "zero or a positive whole number")
_non_negative_float = _number(float, lambda value: value >= 0, "zero or more")
