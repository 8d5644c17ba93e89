"""The browser tests' Chromium (Debian's, headless), driven by Playwright's sync API."""

import os
import shutil
import threading

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from distribution import access, services
from distribution.models import Release

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


@pytest.fixture(autouse=True)
def publishers_group(db):
    """Transactional tests empty the database, the publishers group from the migrations too."""
    Group.objects.get_or_create(name=access.PUBLISHERS_GROUP)


@pytest.fixture
def uploads_dir(settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path / "uploads"
    settings.UPLOADS_DIR.mkdir()
    return settings.UPLOADS_DIR


def build_when_processing(stop: threading.Event) -> None:
    """Stands in for the Celery worker: builds each release the page hands over."""
    try:
        while not stop.is_set():
            for release_id in Release.objects.filter(status=Release.Status.PROCESSING).values_list(
                "pk", flat=True
            ):
                services.build_release_torrent(release_id=release_id)
            stop.wait(0.2)
    finally:
        # This thread's own connection: left open, it keeps the test database from being dropped.
        connection.close()


def signed_in_page(browser, live_server, user, viewport: dict | None = None):
    """A page of a new browser context signed in as ``user`` (its session cookie, no login form)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(
        base_url=live_server.url, viewport=viewport or {"width": 1280, "height": 900}
    )
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page
