"""Load a WSGI application from `module:callable`, as the seed's wsgiserver did."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any


class AppLoadError(Exception):
    """The application cannot be loaded; the message says why in one line."""


def load_app(spec: str) -> Any:
    """Import `module:callable` (callable may be dotted) with the current directory importable."""
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise AppLoadError(
            f"expected module:callable (e.g. helloworld.wsgi:application), got {spec!r}"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise AppLoadError(
                f"no module named {exc.name!r} (looked in {cwd} and sys.path)"
            ) from None
        raise AppLoadError(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:
        raise AppLoadError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    target: Any = module
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AppLoadError(f"{module_name!r} has no attribute {attr_path!r}") from None
    if not callable(target):
        raise AppLoadError(f"{spec} is a {type(target).__name__}, not a callable application")
    return target


_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect into every server


def is_asgi(app: Any) -> bool:
    """An ASGI 3 application is a coroutine function, or an object whose __call__ is one."""
    for candidate in (app, getattr(app, "__call__", None)):  # noqa: B004 (the method itself)
        function = getattr(candidate, "__func__", candidate)  # bound method -> function
        code = getattr(function, "__code__", None)
        if code is not None and code.co_flags & _CO_COROUTINE:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    """`python -m servers.loader module:callable` prints wsgi or asgi: how the harness learns a
    user's application's interface without importing it into its own process."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m servers.loader module:callable", file=sys.stderr)
        return 2
    try:
        app = load_app(args[0])
    except AppLoadError as exc:
        print(exc, file=sys.stderr)
        return 2
    print("asgi" if is_asgi(app) else "wsgi")
    return 0


if __name__ == "__main__":
    sys.exit(main())
