"""Safe unless told otherwise: servers bind to loopback by default and warn when told to bind
elsewhere; Django's SECRET_KEY comes from the environment, and its default says it is for
development (and Django's own deploy check flags it)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from django.core.checks.security.base import check_secret_key
from django.test import override_settings

import helloworld.wsgi  # noqa: F401 (configures Django's settings, as the servers do)
from bench.launch import ServerProcess
from tests.conftest import PLAIN

SETTINGS = Path(__file__).resolve().parent.parent / "helloworld" / "settings.py"


@pytest.mark.slow
def test_default_address_is_loopback_and_draws_no_warning(tmp_path) -> None:
    command = [sys.executable, "-m", "servers", "iterative", PLAIN, "--port", "0"]
    with ServerProcess(command, log_dir=tmp_path) as server:
        assert server.host == "127.0.0.1"
        assert "WARNING" not in server.output()


@pytest.mark.slow
def test_non_loopback_address_draws_a_warning_before_binding() -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface here: the warning comes, the bind then fails,
    # and nothing ever listens beyond this machine.
    result = subprocess.run(
        [sys.executable, "-m", "servers", "iterative", PLAIN, "--host", "192.0.2.1", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "WARNING: binding to 192.0.2.1, reachable beyond this machine" in result.stderr
    assert result.returncode == 1 and "cannot listen" in result.stderr


def load_settings(monkeypatch: pytest.MonkeyPatch, secret: str | None) -> ModuleType:
    """helloworld/settings.py run afresh under this environment (Django's copy is untouched)."""
    if secret is None:
        monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("DJANGO_SECRET_KEY", secret)
    spec = importlib.util.spec_from_file_location("settings_under_test", SETTINGS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_secret_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "a-long-random-deployment-secret-0123456789-abcdefghijklmnop"
    key = load_settings(monkeypatch, secret).SECRET_KEY
    assert key == secret
    with override_settings(SECRET_KEY=key):
        assert check_secret_key(None) == []


def test_default_secret_key_is_marked_for_development(monkeypatch: pytest.MonkeyPatch) -> None:
    key = load_settings(monkeypatch, None).SECRET_KEY
    assert key.startswith("django-insecure-") and "development" in key
    with override_settings(SECRET_KEY=key):  # manage.py check --deploy would say so too
        assert [warning.id for warning in check_secret_key(None)] == ["security.W009"]
