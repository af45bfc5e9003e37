"""An application module that takes a minute to import: its server never listens in time."""

import time

time.sleep(60)  # bounded: the harness stops the server long before


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"too late"]
