"""Query-parameter rules shared by the plain WSGI app and the Django views.

The rules (default, cap, what counts as invalid, the exact 400 message) live here once so that
every application answers the same request with the same status and body.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qs


class Param(NamedTuple):
    """An integer query parameter: its name, value when missing, and largest allowed value."""

    name: str
    default: int
    cap: int


SLEEP_MS = Param("ms", 10, 10_000)
CPU_MS = Param("ms", 1, 10_000)
PAYLOAD_KB = Param("kb", 64, 10_240)


class ParamError(ValueError):
    """Raised with a one-line message, suitable as a 400 body, when a parameter is invalid."""


def parse_value(raw: str | None, param: Param) -> int:
    """Validate one raw value; ``None`` (parameter absent) gives the default.

    Only plain ASCII digits are accepted (no sign, spaces, underscores or other Unicode digits),
    so that "valid" means the same thing everywhere, whatever int() happens to tolerate.
    """
    if raw is None:
        return param.default
    if raw.isascii() and raw.isdigit():
        digits = raw.lstrip("0") or "0"
        # Compare lengths first: int() on thousands of digits is slow or refused by Python.
        if len(digits) > len(str(param.cap)) or int(digits) > param.cap:
            raise ParamError(f"{param.name} must be at most {param.cap}")
        return int(digits)
    if raw[:1] == "-" and raw[1:].isascii() and raw[1:].isdigit():
        raise ParamError(f"{param.name} must not be negative")
    raise ParamError(f"{param.name} must be an integer")


def from_query(query_string: str, param: Param) -> int:
    """Read ``param`` from a raw QUERY_STRING; the last occurrence wins, as in Django's QueryDict.

    An empty value (``?ms=``) is present but not an integer, hence invalid rather than default.
    """
    if not query_string:  # the common case costs no parsing at all
        return param.default
    values = parse_qs(query_string, keep_blank_values=True).get(param.name)
    return parse_value(values[-1] if values else None, param)
