"""Publishing in a real browser (Debian's Chromium, headless): two files through tus to published.

The page declares the release, sends both files with tus-js-client to our tus
endpoint, shows each file's and the release's progress reach 100 %, asks for
the build and moves to the release page, which follows the build without a
reload of its own and shows the release published.
"""

import hashlib
import os
import threading

import pytest
from django.conf import settings
from django.test import Client

from distribution.models import Release
from tests.browser.conftest import ARTIFACTS, build_when_processing, needs_chromium

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium]


@pytest.fixture
def page(browser, live_server, publisher, uploads_dir):
    client = Client()
    client.force_login(publisher)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_it_uploads_two_files_through_the_page_and_publishes_them(page, product, tmp_path):
    files = {"atlas.iso": os.urandom(3 * 1024 * 1024 + 17), "README.txt": b"Atlas 1.0\n" * 100}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    stop = threading.Event()
    worker = threading.Thread(target=build_when_processing, args=(stop,), daemon=True)
    worker.start()
    try:
        page.goto("/publish/")
        page.select_option("select[name=product]", label=product.name)
        page.fill("input[name=version]", "1.0")
        page.set_input_files("[data-testid=pick-files]", [str(tmp_path / name) for name in files])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "publish-form.png"), full_page=True)
        page.get_by_test_id("publish").click()

        page.wait_for_function(
            "document.querySelector('[data-testid=total-bar]').value === 100", timeout=30_000
        )
        assert page.get_by_test_id("total-label").inner_text().startswith("100 %")
        assert page.locator("#upload-rows .percent").all_inner_texts() == ["100 %", "100 %"]
        page.wait_for_url("**/releases/*/", timeout=30_000)
        page.get_by_test_id("status").filter(has_text="Published").wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "publish-published.png"), full_page=True)
    finally:
        stop.set()
        worker.join(timeout=10)

    release = Release.objects.get()
    assert release.status == Release.Status.PUBLISHED
    assert {f.path: f.sha256 for f in release.files.all()} == {
        name: hashlib.sha256(data).hexdigest() for name, data in files.items()
    }
    assert page.get_by_test_id("format-note").is_visible()
