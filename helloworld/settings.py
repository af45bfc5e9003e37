"""Django settings for the hello-world project served by the home-made servers.

Deliberately small: no database, no installed apps, one middleware, so that a request costs what a
lean but real Django deployment costs, and the benchmarks compare servers, not configurations.
"""

from __future__ import annotations

import os

# Production-like: no debug pages, no per-request debug bookkeeping.
DEBUG = False

# Override in any real deployment; the default is public and only for local development.
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY",
    "django-insecure-development-only-key-do-not-use-in-production",
)

# Servers are only ever bound to loopback. "testserver" is the host Django's test client sends,
# so django.test.Client works without Django's test runner.
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1", "testserver"]

INSTALLED_APPS: list[str] = []

# CommonMiddleware is what nearly every site runs (it also adds Content-Length when missing).
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
# No slash-appending redirect: "/hello" is a plain 404 as in helloworld.plain, and every response
# keeps a Content-Length (Django's redirect response from CommonMiddleware has none).
APPEND_SLASH = False

ROOT_URLCONF = "helloworld.urls"
WSGI_APPLICATION = "helloworld.wsgi.application"

DATABASES: dict[str, dict[str, str]] = {}

TEMPLATES: list[dict[str, object]] = []

USE_TZ = True
TIME_ZONE = "UTC"
# No translations are used; switching i18n off avoids activating a language per request.
USE_I18N = False

DEFAULT_CHARSET = "utf-8"

# With DEBUG off Django would only mail errors to ADMINS; send them to stderr instead. Only
# ERROR and above, so routine 404 warnings do not flood the console during benchmarks.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "{asctime} {levelname} {name}: {message}", "style": "{"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "plain",
        },
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
