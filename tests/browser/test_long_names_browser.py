"""Pages that hold up, in a real browser (Debian's Chromium, headless): every page stays within the
viewport's width, on a desktop and on a phone, whatever publishers name things.

The names are as long as each field allows, with no space to break at: a product name of 200
characters, a version of 100, tags of 50, file paths of over 300 characters, notes with a
300-character word, right-to-left text, a failure reason and a seeder node's name of 300
characters, and a release of 10,000 files. No page may scroll sideways or log an error in the
console. Each page's screenshot is kept in test-artifacts/browser/long-*.png.
"""

import io
import threading

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from distribution import access, services
from distribution.models import Release, ReleaseFile, SwarmSample
from distribution.statistics import add_release_counts
from seeder.models import SeederNode
from tests.browser.conftest import ARTIFACTS, build_when_processing, needs_chromium, signed_in_page
from tests.factories import ProductFactory

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium]

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
HEBREW = "שלום עולם, זו גרסה חדשה עם שיפורים רבים"
PRODUCT = "Atlas" + "אטלס" * 10 + "x" * 155  # 200 characters, the most the publish form takes
VERSION = "1." + "9" * 98  # 100 characters
TAGS = ["t" * 50, "גרסה" * 12]
WORD = "w" * 300
NOTES = f"""# Highlights

{WORD}

{HEBREW}. {HEBREW}.

> A quote with a long word: {"q" * 300}

| column | other |
|---|---|
| {"c" * 300} | {HEBREW} |

```
{"code " * 10}{"k" * 300}
```
"""
LONG_PATH = "d" * 200 + "/" + "תיקייה" * 10 + "/" + "f" * 240 + ".bin"  # 506 characters


def screenshot_name(page_name: str, viewport: str) -> str:
    return f"long-{page_name}-{viewport}"


@pytest.fixture
def world(admin_user, tmp_path):
    """A published release with every name at its longest, a failed one, a 10,000-file one, a seeder node."""
    admin_user.groups.add(Group.objects.get(name=access.PUBLISHERS_GROUP))
    Group.objects.create(name="g" * 150)
    product = services.product_named(PRODUCT)
    release = services.create_release(
        product=product,
        version=VERSION,
        notes=NOTES,
        tags=TAGS,
        files=[
            services.IncomingFile(path=LONG_PATH, size=5, source=io.BytesIO(b"hello")),
            services.IncomingFile(path="short.txt", size=3, source=io.BytesIO(b"abc")),
        ],
        created_by=admin_user,
    )
    services.build_release_torrent(release_id=release.pk)
    release.refresh_from_db()
    assert release.status == Release.Status.PUBLISHED
    add_release_counts(release_id=release.pk, counts={"completed": 3, "origin_bytes": 5 * 1024**3})
    SwarmSample.objects.create(release=release, seeders=2, leechers=1)

    failed = services.create_release(
        product=release.product,
        version="2." + "8" * 98,
        files=[services.IncomingFile(path="x.bin", size=1, source=io.BytesIO(b"x"))],
        created_by=admin_user,
    )
    failed.fail("Reading the files failed: " + "e" * 300)

    many = services.create_release(
        product=ProductFactory(name="Many " + "m" * 195, slug="many"),
        version="3.0",
        files=[services.IncomingFile(path="files/0.bin", size=1, source=io.BytesIO(b"0"))],
        created_by=admin_user,
    )
    services.build_release_torrent(release_id=many.pk)
    ReleaseFile.objects.bulk_create(
        ReleaseFile(release=many, path=f"files/{n:05}-{'n' * 280}.bin", size=n * 1000, sha256="0" * 64)
        for n in range(1, 10_000)
    )
    SeederNode.objects.create(
        name="node-" + "s" * 195, listen_port=6881, version="v" * 100, last_heartbeat_at=timezone.now()
    )
    return {"release": release, "failed": failed, "many": many}


@pytest.fixture(params=VIEWPORTS)
def viewport(request) -> str:
    return request.param


def open_page(browser, live_server, user, viewport: str):
    page = signed_in_page(browser, live_server, user, VIEWPORTS[viewport])
    page.set_default_timeout(30_000)
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    return page


@pytest.fixture
def page(browser, live_server, admin_user, viewport):
    page = open_page(browser, live_server, admin_user, viewport)
    yield page
    page.goto("about:blank")  # stop the dashboard's polling before the live server goes
    page.context.close()


@pytest.fixture
def desktop(browser, live_server, admin_user):
    """For the whole paths through the pages, walked once."""
    page = open_page(browser, live_server, admin_user, "desktop")
    yield page
    page.context.close()


def assert_fits(page, name: str, viewport: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{screenshot_name(name, viewport)}.png"), full_page=full_page)
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{name} is {widths[0]} px wide in a {widths[1]} px viewport"
    assert page.console_errors == [], page.console_errors


def test_the_catalogue_fits_every_name(page, live_server, world, viewport):
    page.goto("/")
    assert page.get_by_test_id("catalogue-row").count() == 2
    icon = page.request.get(page.evaluate("document.querySelector('link[rel=icon]').href"))
    assert icon.ok and icon.headers["content-type"].startswith("image/svg+xml")
    assert_fits(page, "catalogue", viewport)

    page.goto(f"/?tag={TAGS[1]}")
    assert page.get_by_test_id("catalogue-row").count() == 1
    assert_fits(page, "catalogue-rtl-tag", viewport)


def test_the_release_page_fits_its_names_notes_and_paths(page, live_server, world, viewport):
    release = world["release"]
    page.goto(release.get_absolute_url())
    page.get_by_test_id("notes").wait_for()
    # The notes are one box: no paragraph of them draws a border of its own.
    boxed = page.evaluate(
        """Array.from(document.querySelectorAll('[data-testid=notes] *'))
             .filter(e => getComputedStyle(e).borderTopStyle !== 'none')
             .filter(e => !['TABLE', 'TH', 'TD'].includes(e.tagName))
             .map(e => e.tagName)"""
    )
    assert boxed == []
    page.get_by_test_id("edit-details").locator("summary").click()
    assert_fits(page, "release", viewport)


def test_a_failed_release_and_its_reason_fit(page, live_server, world, viewport):
    page.goto(world["failed"].get_absolute_url())
    page.get_by_test_id("failure").wait_for()
    assert_fits(page, "release-failed", viewport)


def test_a_release_of_ten_thousand_files_lists_them_a_page_at_a_time(page, live_server, world, viewport):
    page.goto(world["many"].get_absolute_url())

    assert page.get_by_test_id("file-row").count() == 500
    assert "10,000 files" in page.get_by_test_id("files-summary").inner_text()
    page.get_by_test_id("files-pager").get_by_text("Next →").click()
    page.wait_for_url("**/?files=2#files")
    assert "Files 501–1,000 of 10,000" in page.get_by_test_id("files-pager").inner_text()
    assert_fits(page, "release-10000-files", viewport, full_page=False)


def test_my_releases_fit(page, live_server, world, viewport):
    page.goto("/my/releases/")
    assert page.get_by_test_id("my-release").count() == 3
    assert_fits(page, "my-releases", viewport)


def test_the_dashboard_fits_and_its_tables_never_overlap(page, live_server, world, viewport):
    page.goto("/dashboard/")
    page.get_by_test_id("failed-build").wait_for()
    # Each table stays inside its own section (scrolling inside it when it must), and no two meet.
    overlaps = page.evaluate(
        """(() => {
             const boxes = Array.from(document.querySelectorAll('#dashboard-panel .table-scroll'))
               .map(box => box.getBoundingClientRect());
             const spilling = Array.from(document.querySelectorAll('#dashboard-panel .table-scroll'))
               .filter(box => box.getBoundingClientRect().right
                              > box.parentElement.getBoundingClientRect().right + 1)
               .map(box => box.parentElement.querySelector('h2').textContent);
             const meeting = boxes.some((a, i) => boxes.some((b, j) => i < j && a.left < b.right
               && b.left < a.right && a.top < b.bottom && b.top < a.bottom));
             return {spilling, meeting};
           })()"""
    )
    assert_fits(page, "dashboard", viewport)
    assert overlaps == {"spilling": [], "meeting": False}


def test_the_statistics_page_fits(page, live_server, world, viewport):
    page.goto(f"/releases/{world['release'].pk}/stats")
    page.wait_for_function("document.body.dataset.chartsDrawn === '3'")
    assert_fits(page, "stats", viewport)


def test_the_publish_page_fits_long_names_and_ten_thousand_chosen_files(
    page, live_server, world, viewport, tmp_path
):
    names = ["f" * 200 + ".bin", "קובץ" * 20 + ".bin"]
    for name in names:
        (tmp_path / name).write_bytes(b"x" * 1536)
    page.goto("/publish/")
    page.select_option("select[name=visibility]", "private")  # shows the audience's long group name
    page.set_input_files("[data-testid=pick-files]", [str(tmp_path / name) for name in names])
    sync_rows(page, 2)
    assert page.locator("#upload-rows td.num").all_inner_texts() == ["1.5\xa0KiB", "1.5\xa0KiB"]
    assert_fits(page, "publish", viewport)

    page.evaluate(
        """(() => {
             const files = new DataTransfer();
             for (let n = 0; n < 10000; n++) {
               const name = "many-" + String(n).padStart(5, "0") + "-" + "n".repeat(200);
               files.items.add(new File(["x".repeat(n % 2000)], name));
             }
             document.getElementById("dropzone").dispatchEvent(
               new DragEvent("drop", {dataTransfer: files, bubbles: true, cancelable: true}));
           })()"""
    )
    sync_rows(page, 10_002)
    page.wait_for_function("document.getElementById('total-label').textContent.includes('10,002 files')")
    page.locator('#upload-rows tr[data-path^="many-09999-"]').scroll_into_view_if_needed()
    assert_fits(page, "publish-10000-files", viewport, full_page=False)


def sync_rows(page, count: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('#upload-rows tr').length === {count}")


def test_a_publisher_removes_a_chosen_file_before_sending(desktop, world, tmp_path):
    """...and the page, then the release page, show each file's size alike."""
    page = desktop
    sizes = {"keep.bin": 1_300_000, "mistake.iso": 10, "also-keep.txt": 1280}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"k" * size)
    stop = threading.Event()
    worker = threading.Thread(target=build_when_processing, args=(stop,), daemon=True)
    worker.start()
    try:
        page.goto("/publish/")
        page.fill("input[name=new_product]", "Removal test")
        page.fill("input[name=version]", "1.0")
        page.fill("input[name=tags]", "nightly, linux")
        page.set_input_files(
            "[data-testid=pick-files]",
            [str(tmp_path / n) for n in ("keep.bin", "mistake.iso", "also-keep.txt")],
        )
        sync_rows(page, 3)
        page.locator('#upload-rows tr[data-path="mistake.iso"]').get_by_test_id("remove-file").click()
        sync_rows(page, 2)
        page.wait_for_function("document.getElementById('total-label').textContent.includes('2 files')")
        chosen = page.locator("#upload-rows td.num").all_inner_texts()
        page.get_by_test_id("publish").click()
        page.wait_for_url("**/releases/*/", timeout=30_000)
        page.get_by_test_id("status").filter(has_text="Published").wait_for(timeout=30_000)
    finally:
        stop.set()
        worker.join(timeout=10)

    release = Release.objects.get(product__name="Removal test")
    assert sorted(release.files.values_list("path", flat=True)) == ["also-keep.txt", "keep.bin"]
    assert sorted(release.tags.values_list("slug", flat=True)) == ["linux", "nightly"]
    assert chosen == ["1.2\xa0MiB", "1.3\xa0KiB"]
    shown = page.get_by_test_id("file-row").locator("td.num").all_inner_texts()  # sorted by path
    assert shown == ["1.3\xa0KiB", "1.2\xa0MiB"]
    assert page.console_errors == []


def test_a_publisher_edits_notes_and_tags_then_deletes_a_failed_release(desktop, world):
    page = desktop
    release = world["release"]
    page.goto(release.get_absolute_url())
    page.get_by_test_id("edit-details").locator("summary").click()
    page.fill("textarea[name=notes]", "Now **shorter**.")
    page.fill("input[name=tags]", "stable")
    page.get_by_test_id("save-details").click()
    page.get_by_text("The notes and tags are saved.").wait_for()
    assert page.get_by_test_id("notes").inner_html().strip() == "<p>Now <strong>shorter</strong>.</p>"
    assert page.get_by_test_id("tag").all_inner_texts() == ["stable"]

    failed = world["failed"]
    page.goto(failed.get_absolute_url())
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("delete-release").click()
    page.wait_for_url("**/my/releases/")
    assert "is deleted, and its files with it" in page.content()
    assert not Release.objects.filter(pk=failed.pk).exists() and not failed.content_dir.exists()
    assert page.console_errors == []
