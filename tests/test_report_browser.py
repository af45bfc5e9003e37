"""report.html in a real browser (Debian's headless Chromium): no console error, every image
loaded, a screenshot saved. .ci/run installs chromium when it is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.launch import REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REFERENCE = REPO_ROOT / "results" / "reference" / "report.html"

pytestmark = [
    pytest.mark.slow,  # a browser
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]


def test_reference_report_in_headless_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert REFERENCE.is_file(), "the committed reference run has no report.html"
    errors: list[str] = []
    failed: list[str] = []
    screenshot = tmp_path / "report.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.goto(REFERENCE.as_uri(), wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert not failed, failed
    assert len(images) >= 7
    assert all(complete and width > 100 for _, complete, width in images), images
    assert screenshot.stat().st_size > 50_000
    shutil.copy(screenshot, REPO_ROOT / "results" / "report-screenshot.png")  # for a human look
