"""Flask hello world: shows that an unmodified framework runs on the home-made servers."""

from __future__ import annotations

from flask import Flask, Response

app = Flask(__name__)


@app.get("/hello/")
def hello() -> Response:
    """Return the same body and content type as the other hello-world apps."""
    return Response(b"Hello, world!", content_type="text/plain; charset=utf-8")


application = app
