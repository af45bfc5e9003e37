"""Pyramid hello world: a second framework, configured imperatively with a Configurator."""

from __future__ import annotations

import warnings

# WebOb (under Pyramid) still imports the stdlib cgi module, deprecated since 3.11; silence that
# one warning so test runs with warnings-as-errors can import this app.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="'cgi' is deprecated", category=DeprecationWarning)
    from pyramid.config import Configurator
    from pyramid.request import Request
    from pyramid.response import Response
    from pyramid.router import Router


def hello(request: Request) -> Response:
    """Return the same body and content type as the other hello-world apps."""
    return Response(body=b"Hello, world!", content_type="text/plain", charset="utf-8")


def make_app() -> Router:
    """Build the WSGI app; a function so that tests can build a fresh one."""
    with Configurator() as config:
        config.add_route("hello", "/hello/")
        config.add_view(hello, route_name="hello")
        return config.make_wsgi_app()


app = make_app()
application = app
