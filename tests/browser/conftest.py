"""The browser tests' Chromium (Debian's, headless), driven by Playwright's sync API."""

import os
import shutil

import pytest
from django.conf import settings
from django.db import connection

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("FANOUT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = settings.BASE_DIR / "test-artifacts" / "browser"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed")


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API keeps an event loop running in this thread: the test's own
    # database calls are still synchronous, so Django may let them through.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()
        # While a loop runs, Django gives this thread connections apart from the ones
        # pytest-django closes: left open, the test's keeps the test database from
        # being dropped at the end of the session.
        connection.close()
