"""Store: one run.json per run, the single source of truth for every figure and chart.

Written atomically after every cell (a temporary file, then a rename), so an interrupted run
leaves a valid partial file. results/latest points to the newest run. The format is described
by bench/run.schema.json.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from bench import record
from bench.launch import REPO_ROOT, signals_deferred
from bench.record import RunRecord

SCHEMA_VERSION = 4
SCHEMA_PATH = Path(__file__).with_name("run.schema.json")
PACKAGES = (
    "httptools",
    "uvloop",
    "django",
    "locust",
    "gevent",
    "geventhttpclient",
    "greenlet",
    "psutil",
    "hdrhistogram",
    "gunicorn",
    "uvicorn",
    "waitress",
)
MIN_FREE_BYTES = 100 * 2**20  # run.json (rewritten whole after each cell), charts, report, logs
# The only environment variables a run records: they change what is measured, and are no secret.
ENV_ALLOWLIST = (
    "PYTHONHASHSEED",
    "PYTHONOPTIMIZE",
    "PYTHONDEVMODE",
    "PYTHONMALLOC",
    "PYTHONASYNCIODEBUG",
    "PYTHONGC",
    "DJANGO_SETTINGS_MODULE",
)
# Names of variables whose values are never written, wherever they turn up (a server's output).
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSW|PASSPHRASE|KEY|CREDENTIAL|AUTH|PRIVATE|COOKIE")
REDACTED = "[redacted]"


class StoreError(Exception):
    """The results folder cannot be written; said before any measuring starts."""


class RunFormatError(ValueError):
    """A run.json that is not a run of this format; the message says why in one line."""


_VALIDATOR = None


def validator():  # the schema is read once, on the first validation
    global _VALIDATOR
    if _VALIDATOR is None:
        import jsonschema

        schema = json.loads(SCHEMA_PATH.read_text())
        _VALIDATOR = jsonschema.Draft202012Validator(schema)
    return _VALIDATOR


def validate_run(document: object, where: str = "run.json") -> None:
    """RunFormatError unless `document` is a run of this format (bench/run.schema.json)."""
    import jsonschema

    version = (
        (document.get("metadata") or {}).get("schema_version")
        if isinstance(document, dict)
        else None
    )
    if version != SCHEMA_VERSION:
        raise RunFormatError(
            f"{where} is format version {version}, and this code reads version "
            f"{SCHEMA_VERSION}: make the run again with this code (python -m bench run)"
        )
    error = jsonschema.exceptions.best_match(validator().iter_errors(document))
    if error is not None:
        path = "/".join(str(part) for part in error.absolute_path) or "the top"
        raise RunFormatError(f"{where} is not a valid run: at {path}: {error.message[:200]}")


def read_run(folder: Path) -> dict:
    """A stored run, checked against its schema; RunFormatError (one line) when it is not one."""
    path = folder / "run.json"
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunFormatError(f"{path} cannot be read as JSON: {exc}") from None
    validate_run(document, str(path))
    return document


def load_run(folder: Path) -> RunRecord:
    """A stored run, checked against its schema, as the typed record the report reads."""
    path = folder / "run.json"
    try:
        return record.read(read_run(folder))
    except record.RecordError as exc:
        raise RunFormatError(f"{path} is not a valid run: {exc}") from None


def results_root() -> Path:
    """Where results go unless --out says otherwise: results/ in the current directory (never
    inside the installed package)."""
    return Path.cwd() / "results"


def results_dir(kind: str, out: Path | None = None, min_free_bytes: int = MIN_FREE_BYTES) -> Path:
    """A results folder (results/<kind>-TIME, or `out`), created and checked writable, with room
    to spare, now: not after ten minutes of measuring. StoreError says why not, in one line."""
    folder = out or results_root() / time.strftime(f"{kind}-%Y%m%d-%H%M%S")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("ok")
        probe.unlink()
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise StoreError(f"cannot write results to {folder}: {exc.strerror or exc}") from None
    if free < min_free_bytes:
        raise StoreError(
            f"only {free / 2**20:.0f} MiB free for results in {folder}; a run needs "
            f"{min_free_bytes / 2**20:.0f} MiB"
        )
    return folder


def metadata(settings: dict, cpus: dict) -> dict:
    """What a reader needs to trust or reproduce the figures."""
    return {
        "schema_version": SCHEMA_VERSION,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain")),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "affinity": cpus,
        "load_average": list(os.getloadavg()),  # before the run: how busy the machine was
        "cpu_governor": _cpu_governor(),
        "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "command_line": [sys.argv[0].rsplit("/", 1)[-1], *sys.argv[1:]],
        "settings": settings,
        "environment": recorded_environment(),
    }


def recorded_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The allow-listed environment variables that are set: never the rest (keys, tokens)."""
    return {name: environ[name] for name in ENV_ALLOWLIST if name in environ}


def redact_secrets(text: str, environ: Mapping[str, str] = os.environ) -> str:
    """`text` with the value of every secret-looking environment variable replaced, as it is
    and as JSON escapes it: a server may print anything, its output tail is stored."""
    for name, value in environ.items():
        if len(value) >= 8 and SECRET_NAME.search(name.upper()):
            for form in dict.fromkeys((value, json.dumps(value)[1:-1])):
                text = text.replace(form, REDACTED)
    return text


def write_json(path: Path, document: object, indent: int | None = 2) -> None:
    """Atomically (a temporary file, then a rename): a reader, or an interrupted run, sees the
    previous complete file or the new one, never half of one. Secrets are redacted."""
    partial = path.with_name(path.name + ".partial")
    separators = (",", ":") if indent is None else None
    text = redact_secrets(json.dumps(document, indent=indent, separators=separators))
    with signals_deferred():  # Ctrl-C waits for the rename: no .partial is left behind
        partial.write_text(text)
        partial.replace(path)


def write_run(folder: Path, document: dict, new_cells: int | None = None) -> Path:
    """Check run.json against its schema, write it atomically, and point results/latest at this
    run. A document that fails its schema is a bug of the harness: RunFormatError, said. With
    `new_cells`, only the last that many cells are checked beside the rest of the document (the
    whole check takes half a second for a hundred cells: once, not after every cell)."""
    path = folder / "run.json"
    checked = document
    if new_cells is not None:
        checked = {**document, "cells": document["cells"][len(document["cells"]) - new_cells :]}
    validate_run(checked, str(path))
    write_json(path, document, indent=None)
    _point_latest(folder)
    return path


def _point_latest(folder: Path) -> None:
    """results/latest -> the newest run, for runs kept in results/ (not for --out elsewhere)."""
    if folder.resolve().parent != results_root().resolve():
        return
    latest = folder.parent / "latest"
    with contextlib.suppress(OSError):
        if latest.is_symlink() or not latest.exists():
            tmp = folder.parent / ".latest.tmp"
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(folder.name)
            tmp.replace(latest)


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_governor() -> str | None:
    """The CPU frequency governor (performance, powersave, ...), where Linux says it."""
    with contextlib.suppress(OSError):
        path = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
        return path.read_text().strip()
    return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"
