"""Staff's audit log page in a real browser (Debian's Chromium, headless): what publishers and users
did, filtered by who and what, a release's history from its link, the CSV export of the filtered set,
and the 403 page for everyone else. Screenshots go to test-artifacts/browser/ and /tmp/shots-audit/."""

import csv
import io
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from distribution import access
from distribution.api_tokens import issue_api_token
from distribution.models import ApiToken, AuditEntry, Release
from tests.browser.conftest import ARTIFACTS, needs_chromium, signed_in_page
from tests.conftest import PASSWORD
from tests.distribution.test_audit import built_release
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium]
SHOTS = Path("/tmp/shots-audit")


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def screenshot(page, name: str) -> None:
    for folder in (ARTIFACTS, SHOTS):
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"audit-{name}.png"), full_page=True)


@pytest.fixture
def history(publisher, product, admin_user):
    """What happened, written by the services the pages call."""
    first = built_release(product, version="1.0", created_by=publisher)
    built_release(product, version="2.0", created_by=publisher)
    access.regenerate_passkey(UserFactory(username="dora"))
    issue_api_token(publisher, name="nightly build", scope=ApiToken.Scope.PUBLISH)
    Client().post(reverse("login"), {"username": "=mallory", "password": "guess"})
    return first


def sign_in_and_retire(browser, live_server, release: Release) -> None:
    """The publisher mistypes their password, signs in, and retires the release with its page's button."""
    page = browser.new_context(base_url=live_server.url).new_page()
    page.goto(reverse("login"))
    page.get_by_label("User name").fill("publisher")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("did not match").wait_for()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto(release.get_absolute_url())
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Retire").click()
    page.get_by_test_id("retired").wait_for()


def test_staff_filter_the_audit_log_follow_a_release_and_export_what_they_see(
    browser, live_server, admin_user, publisher, history, tmp_path
):
    sign_in_and_retire(browser, live_server, history)
    page = signed_in_page(browser, live_server, admin_user)
    page.goto(reverse("audit-log"))
    rows = page.get_by_test_id("audit-row")
    assert rows.count() == AuditEntry.objects.count()
    failed = rows.filter(has_text="=mallory")
    assert "user.sign_in_failed" in failed.inner_text()
    mistyped = rows.filter(has_text="user.sign_in_failed").filter(has_text="publisher")
    assert "127.0.0.1" in mistyped.inner_text()
    screenshot(page, "1-everything")

    page.get_by_label("Who").fill("publisher")
    page.get_by_label("Action").fill("release.")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/audit/?*actor=publisher*")
    actions = [row.locator("code").inner_text() for row in rows.all()]
    assert actions == ["release.retired", "release.created", "release.created"]
    assert "127.0.0.1" in rows.first.inner_text()
    assert page.get_by_test_id("audit-count").inner_text() == "3 entries match these filters"
    screenshot(page, "2-filtered")

    page.get_by_role("link", name="Atlas 1.0").first.click()
    page.wait_for_url(f"**/audit/?release={history.pk}")
    assert [row.locator("code").inner_text() for row in rows.all()] == [
        "release.retired",
        "release.published",
        "release.created",
    ]
    screenshot(page, "3-one-release")

    page.get_by_label("Who").fill("publisher")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/audit/?*actor=publisher*")
    with page.expect_download() as download:
        page.get_by_test_id("audit-export").click()
    saved = tmp_path / "audit.csv"
    download.value.save_as(saved)
    exported = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [(row["actor"], row["action"], row["target"]) for row in exported] == [
        ("publisher", "release.retired", "Atlas 1.0"),
        ("publisher", "release.created", "Atlas 1.0"),
    ]
    assert exported[0]["address"] == "127.0.0.1"


def test_everyone_else_gets_the_403_page(browser, live_server, outsider):
    page = signed_in_page(browser, live_server, outsider)
    answer = page.goto(reverse("audit-log"))
    assert answer.status == 403
    assert page.get_by_role("link", name="Audit log").count() == 0
    screenshot(page, "4-refused")
