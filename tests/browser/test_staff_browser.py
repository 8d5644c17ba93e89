"""The staff pages in a real browser (Debian's Chromium, headless): a new account, a role, a revoke,
a deactivation, each followed by what the user can do next.

Staff make Pat's account (its initial password shown once), put Pat in a group, give Pat the
publisher role on Atlas, and Pat, signed in through the sign-in form, publishes a release to it.
Staff revoke the role: Pat's next visit to the publish page is refused. Staff deactivate Pat:
Pat's session ends and the sign-in form refuses the password. A maintainer (not staff) reaches
Atlas's roles page from their releases. Screenshots of each page go to /tmp/shots-roles/.
"""

import threading
from pathlib import Path

import pytest

from distribution.models import ProductRole, Release
from tests.browser.conftest import build_when_processing, needs_chromium, signed_in_page
from tests.factories import ProductFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium]

SHOTS = Path("/tmp/shots-roles")


def screenshot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()


def test_staff_make_an_account_grant_and_revoke_a_role_and_deactivate_it(
    browser, live_server, admin_user, uploads_dir, tmp_path, settings
):
    settings.PASSWORD_RESET_BY_EMAIL = False
    atlas = ProductFactory(name="Atlas", slug="atlas")
    staff = signed_in_page(browser, live_server, admin_user)

    staff.goto("/staff/users/")
    staff.get_by_test_id("new-user").click()
    staff.fill("input[name=username]", "pat")
    staff.fill("input[name=email]", "pat@example.com")
    staff.get_by_test_id("create-user").click()
    password = staff.get_by_test_id("initial-password-value").inner_text().strip()
    screenshot(staff, "1-user-created")

    staff.goto("/staff/groups/")
    staff.fill("input[name=name]", "vault-team")
    staff.get_by_test_id("create-group").click()
    staff.fill("input[name=username]", "pat")
    staff.get_by_test_id("add-member").click()
    assert staff.get_by_test_id("members").get_by_role("link", name="pat").is_visible()
    screenshot(staff, "2-group-member-added")

    staff.goto("/staff/products/")
    screenshot(staff, "2-products")
    staff.get_by_role("link", name="Atlas").click()
    staff.fill("input[name=username]", "pat")
    staff.select_option("select[name=role]", "publisher")
    staff.get_by_test_id("grant-role").click()
    assert "pat is a publisher of Atlas." in staff.locator(".messages").inner_text()
    assert staff.get_by_test_id("role-pat").is_visible()
    screenshot(staff, "3-role-granted")

    pat = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}).new_page()
    pat.set_default_timeout(20_000)
    sign_in(pat, "pat", password)
    pat.get_by_role("link", name="Publish a release").click()
    (tmp_path / "atlas.bin").write_bytes(b"published by pat\n" * 1000)
    stop = threading.Event()
    worker = threading.Thread(target=build_when_processing, args=(stop,), daemon=True)
    worker.start()
    try:
        # Pat may not make products: the form offers Atlas alone.
        assert pat.locator("select[name=product] option").all_inner_texts() == ["Atlas"]
        assert pat.locator("input[name=new_product]").is_hidden()
        pat.select_option("select[name=product]", label="Atlas")
        pat.fill("input[name=version]", "1.0")
        pat.set_input_files("[data-testid=pick-files]", [str(tmp_path / "atlas.bin")])
        screenshot(pat, "4-pat-publishes")
        pat.get_by_test_id("publish").click()
        pat.wait_for_url("**/releases/*/", timeout=30_000)
        pat.get_by_test_id("status").filter(has_text="Published").wait_for(timeout=30_000)
    finally:
        stop.set()
        worker.join(timeout=10)
    screenshot(pat, "5-pat-published")
    assert Release.objects.get(product=atlas).created_by.username == "pat"

    staff.get_by_test_id("revoke-pat").click()
    assert "pat no longer has a role on Atlas." in staff.locator(".messages").inner_text()
    screenshot(staff, "6-role-revoked")
    assert not ProductRole.objects.filter(product=atlas).exists()
    refused = pat.goto("/publish/")
    assert refused.status == 403
    screenshot(pat, "7-pat-refused")

    staff.goto("/staff/users/?q=pat")
    staff.get_by_role("link", name="pat", exact=True).click()
    staff.get_by_test_id("deactivate").click()
    assert "pat is deactivated." in staff.locator(".messages").inner_text()
    screenshot(staff, "8-user-deactivated")
    pat.goto("/account/tokens/")
    assert "/accounts/login/" in pat.url
    sign_in(pat, "pat", password)
    assert pat.get_by_text("Your user name and password did not match.").is_visible()
    screenshot(pat, "9-pat-cannot-sign-in")

    staff.goto("/staff/users/")
    screenshot(staff, "10-users")

    maintainer = UserFactory(username="mo")
    ProductRole.objects.create(product=atlas, user=maintainer, role=ProductRole.Role.MAINTAINER)
    as_maintainer = signed_in_page(browser, live_server, maintainer)
    as_maintainer.goto("/my/releases/")
    as_maintainer.get_by_test_id("maintained").get_by_role("link", name="Atlas").click()
    assert as_maintainer.get_by_test_id("role-mo").is_visible()
    screenshot(as_maintainer, "11-maintainer-roles-page")
