"""A private release for one group, published in a real browser (Debian's Chromium, headless).

The publisher chooses Private, ticks group A among the Audience checkboxes
(offered only once Private is chosen) and publishes a file; a member of A then
finds the release in the catalogue and opens its page, marked "private: A",
while a signed-in user outside A finds nothing and is told the page does not
exist. Each page's screenshot is kept in test-artifacts/browser/.
"""

import threading

import pytest

from distribution.models import Release
from tests.browser.conftest import ARTIFACTS, build_when_processing, needs_chromium, signed_in_page
from tests.distribution.catalogue_data import make_release
from tests.factories import GroupFactory, ProductFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium]


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def groups(db):
    return GroupFactory(name="A"), GroupFactory(name="B")


def test_a_release_published_for_group_a_shows_to_its_members_only(
    browser, live_server, publisher, product, groups, uploads_dir, tmp_path
):
    group_a, _ = groups
    member, outsider = UserFactory(username="member"), UserFactory(username="outsider")
    member.groups.add(group_a)
    make_release(product=ProductFactory(name="Beacon", slug="beacon"), version="1.0")
    (tmp_path / "vault.bin").write_bytes(b"for group A only\n" * 1000)
    stop = threading.Event()
    worker = threading.Thread(target=build_when_processing, args=(stop,), daemon=True)
    worker.start()
    try:
        page = signed_in_page(browser, live_server, publisher)
        page.goto("/publish/")
        audience = page.get_by_role("group", name="Audience", include_hidden=True)
        assert audience.count() == 1 and audience.is_hidden()
        page.select_option("select[name=visibility]", "private")
        assert audience.is_visible()
        assert (
            page.get_by_label("A", exact=True).is_visible()
            and page.get_by_label("B", exact=True).is_visible()
        )
        page.get_by_label("A", exact=True).check()
        page.select_option("select[name=visibility]", "public")
        assert audience.is_hidden() and page.get_by_label("A", exact=True).is_disabled()
        page.select_option("select[name=visibility]", "private")
        assert page.get_by_label("A", exact=True).is_checked()
        page.select_option("select[name=product]", label=product.name)
        page.fill("input[name=version]", "3.0")
        page.set_input_files("[data-testid=pick-files]", [str(tmp_path / "vault.bin")])
        screenshot(page, "audience-publish-form")
        page.get_by_test_id("publish").click()
        page.wait_for_url("**/releases/*/", timeout=30_000)
        page.get_by_test_id("status").filter(has_text="Published").wait_for(timeout=30_000)
    finally:
        stop.set()
        worker.join(timeout=10)

    release = Release.objects.get(product=product)
    assert release.visibility == Release.Visibility.PRIVATE
    assert list(release.audience.all()) == [group_a]

    as_member = signed_in_page(browser, live_server, member)
    as_member.goto("/")
    as_member.get_by_role("link", name=f"{product.name} 3.0").click()
    assert as_member.get_by_test_id("private-badge").inner_text() == "private: A"
    screenshot(as_member, "audience-release-as-member")

    as_outsider = signed_in_page(browser, live_server, outsider)
    as_outsider.goto("/")
    rows = as_outsider.get_by_test_id("catalogue-row")
    assert rows.count() == 1 and "Beacon 1.0" in rows.inner_text()
    assert product.name not in as_outsider.locator("select[name=product]").inner_text()
    screenshot(as_outsider, "audience-catalogue-as-outsider")
    assert as_outsider.goto(release.get_absolute_url()).status == 404
