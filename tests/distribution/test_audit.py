"""The audit log: each event recorded once through the real entry points (pages, the API with a
token, manage.py commands, the admin, the build), with who, from which address and on what; staff's
page with its filters, paging and CSV export; the retention purge; nobody edits a line."""

import base64
import csv
import datetime
import io

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from distribution import access, audit, services, tasks
from distribution.api_tokens import issue_api_token
from distribution.models import ApiToken, AuditEntry, NodeCredential, Passkey, Release
from tests.factories import GroupFactory, UserFactory
from tests.sso.conftest import needs_node, oidc_provider, single_sign_on  # noqa: F401 (fixtures)
from tests.sso.test_sso_sign_in import PASSWORD as PROVIDER_PASSWORD
from tests.sso.test_sso_sign_in import sign_in_with_the_provider

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
ADDRESS = "10.20.30.40"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def uploads_dir(settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path / "uploads"
    settings.UPLOADS_DIR.mkdir()


def signed_in(user) -> Client:
    client = Client(REMOTE_ADDR=ADDRESS)
    client.force_login(user)
    return client


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def only(action: str) -> AuditEntry:
    """The one line of this action (fails if there are none or several)."""
    return AuditEntry.objects.get(action=action)


def built_release(product, *, version: str = "1.0", private: bool = False, audience=(), created_by=None):
    release = services.create_release(
        product=product,
        version=version,
        visibility=Release.Visibility.PRIVATE if private else Release.Visibility.PUBLIC,
        audience=audience,
        files=[services.IncomingFile(path="payload.bin", size=10, source=io.BytesIO(b"0123456789"))],
        created_by=created_by,
    )
    services.build_release_torrent(release_id=release.pk)
    release.refresh_from_db()
    return release


# Signing in and out.


def test_a_password_sign_in_its_failure_and_the_sign_out_are_recorded_with_the_address():
    user = UserFactory(username="mia")
    client = Client(REMOTE_ADDR=ADDRESS)

    client.post(reverse("login"), {"username": "mia", "password": "guess"})
    assert client.post(reverse("login"), {"username": "mia", "password": PASSWORD}).status_code == 302
    client.post(reverse("logout"))

    failed = only("user.sign_in_failed")
    assert (failed.actor, failed.actor_name, failed.address, failed.details) == (
        None,
        "mia",
        ADDRESS,
        {"method": "password"},
    )
    signed_in_entry = only("user.signed_in")
    assert (signed_in_entry.actor, signed_in_entry.actor_name, signed_in_entry.address) == (
        user,
        "mia",
        ADDRESS,
    )
    assert signed_in_entry.details == {"method": "password"}
    assert (only("user.signed_out").actor, only("user.signed_out").address) == (user, ADDRESS)


def test_behind_a_trusted_proxy_the_address_is_the_forwarded_one_and_only_then(settings):
    UserFactory(username="mia")
    settings.FANOUT_TRUSTED_PROXIES = ["10.0.0.0/8"]
    behind_proxy = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.7, 10.0.0.3")
    behind_proxy.post(reverse("login"), {"username": "mia", "password": "guess"})
    direct = Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="192.0.2.99")
    direct.post(reverse("login"), {"username": "mia", "password": "guess"})

    addresses = set(AuditEntry.objects.values_list("address", flat=True))
    assert addresses == {"192.0.2.7", "198.51.100.9"}


@pytest.mark.django_db(transaction=True)
@needs_node
def test_a_single_sign_on_and_a_refused_one_are_recorded(
    live_server,
    single_sign_on,  # noqa: F811 (the fixture imported from tests.sso.conftest)
):
    single_sign_on.set_account("ada", password=PROVIDER_PASSWORD, sub="a-1", preferred_username="ada")
    UserFactory(username="admin")
    single_sign_on.set_account("mallory", password=PROVIDER_PASSWORD, sub="m-1", preferred_username="admin")

    assert "Log out ada" in sign_in_with_the_provider(live_server, "ada", PROVIDER_PASSWORD).text
    sign_in_with_the_provider(live_server, "mallory", PROVIDER_PASSWORD)

    signed_in_entry = only("user.signed_in")
    assert (signed_in_entry.actor_name, signed_in_entry.address) == ("ada", "127.0.0.1")
    assert signed_in_entry.details == {"method": "sso"}
    refused = only("user.sign_in_failed")
    assert (refused.actor, refused.actor_name, refused.details["method"]) == (None, "", "sso")
    assert "belongs to another account here" in refused.details["reason"]


def test_a_malformed_forwarded_address_is_kept_as_none(settings, rf):
    settings.FANOUT_TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")
    assert audit.record("user.signed_in", request=request).address is None


# Publishing, retiring, retrying, deleting.


def test_a_release_published_on_the_page_is_recorded_when_made_and_when_built(publisher, product):
    client = signed_in(publisher)
    answer = client.post(
        reverse("release-create"),
        {
            "product": product.pk,
            "version": "2.0",
            "visibility": "public",
            "torrent_format": "v1",
            "files": [SimpleUploadedFile("app.bin", b"x" * 100)],
        },
    )
    assert answer.status_code == 302, answer.content
    release = Release.objects.get(version="2.0")
    created = only("release.created")
    assert (created.actor, created.address, created.target_type, created.target_id) == (
        publisher,
        ADDRESS,
        "distribution.release",
        str(release.pk),
    )
    assert created.target_text == "Atlas 2.0"
    assert created.details == {"visibility": "public", "audience": []}

    services.build_release_torrent(release_id=release.pk)
    published = only("release.published")
    assert (published.actor, published.address, published.target_id) == (None, None, str(release.pk))


def test_the_api_with_a_token_records_who_declared_finished_retried_and_retired(
    client, publisher, product, django_capture_on_commit_callbacks
):
    _, token = issue_api_token(publisher, name="ci", scope=ApiToken.Scope.PUBLISH)
    declared = client.post(
        reverse("api-release-list"),
        {"product": "atlas", "version": "3.0", "files": [{"path": "a.bin", "size": 3}]},
        content_type="application/json",
        REMOTE_ADDR="192.0.2.44",
        **bearer(token),
    )
    assert declared.status_code == 201, declared.content
    release = Release.objects.get(version="3.0")
    assert (only("release.created").actor, only("release.created").address) == (publisher, "192.0.2.44")

    tus = {"HTTP_TUS_RESUMABLE": "1.0.0", **bearer(token)}
    metadata = ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in (("release", str(release.pk)), ("relativePath", "a.bin"))
    )
    created = client.post(reverse("tus-create"), HTTP_UPLOAD_LENGTH="3", HTTP_UPLOAD_METADATA=metadata, **tus)
    sent = client.generic(
        "PATCH",
        created["Location"],
        b"abc",
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET="0",
        **tus,
    )
    assert sent.status_code == 204, sent.content
    with django_capture_on_commit_callbacks():
        finished = client.post(
            reverse("api-release-finish", args=[release.pk]), REMOTE_ADDR="192.0.2.44", **bearer(token)
        )
    assert finished.status_code == 202, finished.content
    assert (only("release.uploaded").actor, only("release.uploaded").address) == (publisher, "192.0.2.44")

    release.refresh_from_db()
    release.fail("disk gone")
    retried = client.post(reverse("api-release-retry", args=[release.pk]), **bearer(token))
    assert retried.status_code == 202, retried.content
    assert (only("release.retried").actor, only("release.retried").target_id) == (publisher, str(release.pk))

    Release.objects.filter(pk=release.pk).update(status=Release.Status.PUBLISHED)
    retired = client.post(reverse("api-release-retire", args=[release.pk]), **bearer(token))
    assert retired.status_code == 200, retired.content
    assert only("release.retired").actor == publisher
    # A refused transition records nothing.
    assert client.post(reverse("api-release-retire", args=[release.pk]), **bearer(token)).status_code == 409
    assert AuditEntry.objects.filter(action="release.retired").count() == 1


def test_the_pages_buttons_record_a_retire_and_a_deletion_that_outlives_its_release(publisher, product):
    client = signed_in(publisher)
    published = built_release(product, version="1.0", created_by=publisher)
    client.post(reverse("release-retire", args=[published.pk]))
    assert (only("release.retired").actor, only("release.retired").address) == (publisher, ADDRESS)

    doomed = built_release(product, version="1.1", created_by=publisher)
    Release.objects.filter(pk=doomed.pk).update(status=Release.Status.FAILED)
    client.post(reverse("release-delete", args=[doomed.pk]))

    assert not Release.objects.filter(pk=doomed.pk).exists()
    deleted = only("release.deleted")
    assert (deleted.actor, deleted.target_id, deleted.target_text) == (publisher, str(doomed.pk), "Atlas 1.1")


def test_the_publish_command_records_the_release_without_a_user(product, tmp_path):
    (tmp_path / "tool.bin").write_bytes(b"tool")
    call_command(
        "publish", str(tmp_path / "tool.bin"), "--product", "atlas", "--version", "9", stdout=io.StringIO()
    )
    created = only("release.created")
    assert (created.actor, created.actor_name, created.address, created.target_text) == (
        None,
        "",
        None,
        "Atlas 9",
    )


def test_admin_actions_record_the_staff_member_who_retired(admin_user, product):
    release = built_release(product)
    staff = signed_in(admin_user)
    staff.post(
        reverse("admin:distribution_release_changelist"),
        {"action": "retire_releases", "_selected_action": [release.pk]},
    )
    release.refresh_from_db()
    assert release.status == Release.Status.RETIRED
    assert (only("release.retired").actor, only("release.retired").address) == (admin_user, ADDRESS)


# Visibility and audience.


def admin_change(staff: Client, release: Release, **changes):
    form = {
        "notes": release.notes,
        "visibility": release.visibility,
        "tags": [tag.pk for tag in release.tags.all()],
        "audience": [group.pk for group in release.audience.all()],
        "files-TOTAL_FORMS": "1",
        "files-INITIAL_FORMS": "1",
        "files-MIN_NUM_FORMS": "0",
        "files-MAX_NUM_FORMS": "1000",
        "files-0-id": str(release.files.get().pk),
        "files-0-release": str(release.pk),
        "_save": "Save",
        **changes,
    }
    return staff.post(reverse("admin:distribution_release_change", args=[release.pk]), form)


def test_a_visibility_and_audience_change_is_recorded_once_with_before_and_after(admin_user, product):
    release = built_release(product)
    engineers = GroupFactory(name="engineers")
    staff = signed_in(admin_user)

    answer = admin_change(staff, release, visibility="private", audience=[engineers.pk])

    assert answer.status_code == 302, answer.content
    release.refresh_from_db()
    assert release.visibility == "private" and list(release.audience.all()) == [engineers]
    changed = only("release.access_changed")
    assert (changed.actor, changed.address, changed.target_id) == (admin_user, ADDRESS, str(release.pk))
    assert changed.details == {
        "before": {"visibility": "public", "audience": []},
        "after": {"visibility": "private", "audience": ["engineers"]},
    }
    # Saving the notes alone changes no access: nothing more is recorded.
    admin_change(staff, release, notes="Now with notes.")
    assert AuditEntry.objects.filter(action="release.access_changed").count() == 1


def test_an_audience_on_a_public_release_is_refused_and_nothing_recorded(admin_user, product):
    release = built_release(product)
    staff = signed_in(admin_user)
    answer = admin_change(staff, release, audience=[GroupFactory(name="engineers").pk])
    assert answer.status_code == 302
    assert not release.audience.exists()
    assert not AuditEntry.objects.filter(action="release.access_changed").exists()


# Tokens and passkeys.


def test_tokens_made_and_revoked_on_the_account_page_and_by_the_command_are_recorded(publisher):
    client = signed_in(publisher)
    client.post(reverse("account-tokens"), {"name": "ci", "scope": "read"})
    token = ApiToken.objects.get(name="ci")
    client.post(reverse("account-token-revoke", args=[token.pk]))
    client.post(reverse("account-token-revoke", args=[token.pk]))  # already revoked: nothing more

    call_command("token", "create", "publisher", "--name", "deploy", stdout=io.StringIO())
    deploy = ApiToken.objects.get(name="deploy")
    call_command("token", "revoke", deploy.prefix, stdout=io.StringIO())

    lines = list(
        AuditEntry.objects.filter(action__startswith="token.")
        .order_by("at", "id")
        .values_list("action", "actor_name", "address", "target_id")
    )
    assert lines == [
        ("token.created", "publisher", ADDRESS, str(token.pk)),
        ("token.revoked", "publisher", ADDRESS, str(token.pk)),
        ("token.created", "", None, str(deploy.pk)),
        ("token.revoked", "", None, str(deploy.pk)),
    ]
    assert AuditEntry.objects.filter(action="token.created").first().target_text.endswith("of publisher")


def test_staff_revoking_and_allowing_a_seeder_nodes_credential_again_is_recorded(admin_user):
    access.issue_node_credential("seeder-1")
    credential = NodeCredential.objects.get(node_name="seeder-1")
    staff = signed_in(admin_user)
    changelist = reverse("admin:distribution_nodecredential_changelist")
    for action in ("revoke", "revoke", "allow_again"):
        staff.post(changelist, {"action": action, "_selected_action": [credential.pk]})

    lines = AuditEntry.objects.filter(action__startswith="node_credential.").order_by("at", "id")
    assert [(e.action, e.actor, e.address, e.target_text) for e in lines] == [
        ("node_credential.revoked", admin_user, ADDRESS, "credential of seeder node seeder-1"),
        ("node_credential.allowed_again", admin_user, ADDRESS, "credential of seeder node seeder-1"),
    ]


def test_a_regenerated_passkey_is_recorded(outsider):
    signed_in(outsider).post(reverse("account-passkey"))
    regenerated = only("passkey.regenerated")
    assert (regenerated.actor, regenerated.address, regenerated.target_text) == (
        outsider,
        ADDRESS,
        "passkey of outsider",
    )


# Private-release downloads.


@pytest.fixture
def member():
    user = UserFactory(username="member")
    user.groups.add(GroupFactory(name="engineers"))
    return user


@pytest.fixture
def private_release(product):
    return built_release(
        product, version="secret", private=True, audience=[Group.objects.get(name="engineers")]
    )


def test_each_personal_torrent_and_magnet_of_a_private_release_is_recorded(member, private_release, product):
    client = signed_in(member)
    assert client.get(reverse("release-torrent", args=[private_release.pk])).status_code == 200
    assert client.get(reverse("release-torrent", args=[private_release.pk])).status_code == 200
    assert client.get(reverse("release-magnet", args=[private_release.pk])).status_code == 302

    torrents = AuditEntry.objects.filter(action="release.torrent_downloaded")
    assert [(e.actor, e.address, e.target_id) for e in torrents] == [
        (member, ADDRESS, str(private_release.pk))
    ] * 2
    assert only("release.magnet_downloaded").actor == member

    public = built_release(product, version="open")
    client.get(reverse("release-torrent", args=[public.pk]))
    client.get(reverse("release-magnet", args=[public.pk]))
    assert not AuditEntry.objects.filter(target_id=str(public.pk), action__endswith="_downloaded").exists()


def test_a_personal_web_seed_is_recorded_once_per_user_release_and_day(member, private_release, monkeypatch):
    url = reverse(
        "release-personal-webseed", args=[private_release.pk, Passkey.for_user(member).key, "payload.bin"]
    )
    client = Client(REMOTE_ADDR=ADDRESS)  # a BitTorrent client: no session, the passkey in the path
    for start in range(5):
        answer = client.get(url, HTTP_RANGE=f"bytes={start}-{start + 1}")
        assert answer.status_code == 206
        assert b"".join(answer) == b"0123456789"[start : start + 2]

    used = only("release.web_seed_used")
    assert (used.actor, used.address, used.target_id) == (member, ADDRESS, str(private_release.pk))

    tomorrow = timezone.now() + datetime.timedelta(days=1)
    monkeypatch.setattr(timezone, "now", lambda: tomorrow)
    client.get(url, HTTP_RANGE="bytes=0-1")
    assert AuditEntry.objects.filter(action="release.web_seed_used").count() == 2


def test_a_web_seeds_later_requests_cost_the_audit_log_one_insert_that_writes_nothing(
    member, private_release
):
    url = reverse(
        "release-personal-webseed", args=[private_release.pk, Passkey.for_user(member).key, "payload.bin"]
    )
    client = Client(REMOTE_ADDR=ADDRESS)
    b"".join(client.get(url, HTTP_RANGE="bytes=0-1"))
    with CaptureQueriesContext(connection) as queries:
        b"".join(client.get(url, HTTP_RANGE="bytes=2-3"))
    audit_statements = [q["sql"] for q in queries.captured_queries if "distribution_auditentry" in q["sql"]]
    assert len(audit_statements) == 1 and audit_statements[0].startswith("INSERT")
    assert AuditEntry.objects.filter(action="release.web_seed_used").count() == 1


def test_a_direct_download_of_a_private_file_is_recorded_once_a_day_and_a_public_ones_not(
    member, private_release, product
):
    client = signed_in(member)
    url = reverse("release-file", args=[private_release.pk, "payload.bin"])
    assert b"".join(client.get(url)) == b"0123456789"
    assert b"".join(client.get(url, HTTP_RANGE="bytes=2-3")) == b"23"
    downloaded = only("release.file_downloaded")
    assert (downloaded.actor, downloaded.address, downloaded.target_id) == (
        member,
        ADDRESS,
        str(private_release.pk),
    )

    public = built_release(product, version="open")
    b"".join(client.get(reverse("release-file", args=[public.pk, "payload.bin"])))
    assert AuditEntry.objects.filter(action="release.file_downloaded").count() == 1


def test_a_refused_web_seed_request_records_nothing(member, private_release):
    url = reverse("release-personal-webseed", args=[private_release.pk, "0" * 32, "payload.bin"])
    assert Client().get(url).status_code == 404
    assert not AuditEntry.objects.filter(action="release.web_seed_used").exists()


# The staff page.


@pytest.fixture
def staff(admin_user) -> Client:
    client = signed_in(admin_user)
    AuditEntry.objects.all().delete()  # that sign-in is not what these tests look at
    return client


@pytest.fixture
def log(staff, publisher, outsider):
    """Five lines over three days, from two people and two addresses."""
    now = timezone.now()
    lines = [
        ("user.signed_in", publisher, "10.1.0.5", now - datetime.timedelta(days=3)),
        ("release.created", publisher, "10.1.0.5", now - datetime.timedelta(days=2)),
        ("release.retired", publisher, "10.1.0.5", now - datetime.timedelta(days=1)),
        ("user.sign_in_failed", None, "192.0.2.8", now - datetime.timedelta(hours=1)),
        ("passkey.regenerated", outsider, "192.0.2.8", now),
    ]
    entries = []
    for action, actor, address, at in lines:
        target = Passkey.for_user(actor) if action == "passkey.regenerated" else None
        entry = audit.record(action, actor=actor, target=target)
        AuditEntry.objects.filter(pk=entry.pk).update(address=address, at=at)
        entries.append(entry)
    AuditEntry.objects.filter(action="user.sign_in_failed").update(actor_name="mallory")
    return entries


def shown_actions(answer) -> list[str]:
    return [entry.action for entry in answer.context["page"].object_list]


def test_non_staff_are_refused_and_the_anonymous_sent_to_sign_in(outsider):
    for url in (reverse("audit-log"), reverse("audit-log-csv")):
        refused = signed_in(outsider).get(url)
        assert refused.status_code == 403 and "The audit log is for staff." in refused.content.decode()
        assert Client().get(url)["Location"].startswith(reverse("login"))


def test_staff_see_the_log_newest_first(staff, log):
    answer = staff.get(reverse("audit-log"))
    assert answer.status_code == 200
    assert shown_actions(answer) == [
        "passkey.regenerated",
        "user.sign_in_failed",
        "release.retired",
        "release.created",
        "user.signed_in",
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"actor": "publisher"}, ["release.retired", "release.created", "user.signed_in"]),
        ({"actor": "mallory"}, ["user.sign_in_failed"]),
        ({"action": "user."}, ["user.sign_in_failed", "user.signed_in"]),
        ({"action": "release.retired"}, ["release.retired"]),
        ({"address": "192.0.2.8"}, ["passkey.regenerated", "user.sign_in_failed"]),
        ({"address": "10.1."}, ["release.retired", "release.created", "user.signed_in"]),
        ({"target": "outsider"}, ["passkey.regenerated"]),
    ],
)
def test_each_filter_narrows_the_list(staff, log, filters, expected):
    answer = staff.get(reverse("audit-log"), filters)
    assert shown_actions(answer) == expected


def test_the_date_range_is_inclusive_of_whole_days(staff, log):
    today = timezone.now().date()
    since, until = today - datetime.timedelta(days=2), today - datetime.timedelta(days=1)
    answer = staff.get(reverse("audit-log"), {"since": since.isoformat(), "until": until.isoformat()})
    assert shown_actions(answer) == ["release.retired", "release.created"]
    everything = staff.get(reverse("audit-log"), {"since": "0001-01-01", "until": "9999-12-31"})
    assert len(shown_actions(everything)) == 5


def test_a_release_filter_shows_everything_that_happened_to_it(staff, publisher, product):
    release = built_release(product, created_by=publisher)
    services.retire_release(release=release)
    built_release(product, version="other", created_by=publisher)
    answer = staff.get(reverse("audit-log"), {"release": release.pk})
    assert shown_actions(answer) == ["release.retired", "release.published", "release.created"]


def test_a_malformed_filter_is_refused_with_the_form(staff, log):
    answer = staff.get(reverse("audit-log"), {"since": "yesterday", "release": "x"})
    assert answer.status_code == 400
    assert "Enter a valid date." in answer.content.decode()
    backwards = staff.get(reverse("audit-log-csv"), {"since": "2026-02-02", "until": "2026-02-01"})
    assert backwards.status_code == 400 and b"The end comes before the start." in backwards.content


def test_the_list_is_paged_and_the_pager_keeps_the_filters(staff):
    for _ in range(55):
        audit.record("release.torrent_downloaded")
    first = staff.get(reverse("audit-log"), {"action": "release."})
    assert len(first.context["page"].object_list) == 50
    assert "?action=release.&amp;page=2" in first.content.decode()
    second = staff.get(reverse("audit-log"), {"action": "release.", "page": 2})
    assert len(second.context["page"].object_list) == 5


def test_the_csv_export_streams_every_line_the_filters_match(staff, log, publisher):
    audit.record("release.created", actor=publisher, version='=HYPERLINK("http://evil")')
    answer = staff.get(reverse("audit-log-csv"), {"actor": "publisher"})
    assert answer.status_code == 200 and answer.streaming
    assert answer["Content-Type"] == "text/csv; charset=utf-8"
    assert answer["Content-Disposition"].startswith('attachment; filename="audit-log-')
    rows = csv_rows(answer)
    assert [row["action"] for row in rows] == [
        "release.created",
        "release.retired",
        "release.created",
        "user.signed_in",
    ]
    assert {row["actor"] for row in rows} == {"publisher"}
    assert rows[1]["address"] == "10.1.0.5"
    assert rows[0]["details"] == '{"version": "=HYPERLINK(\\"http://evil\\")"}'


def test_a_cell_that_a_spreadsheet_would_run_is_defused(staff):
    audit.record("release.created", target=UserFactory(username="=cmd|calc"), note="-1+2")
    rows = csv_rows(staff.get(reverse("audit-log-csv")))
    assert rows[0]["target"] == "'=cmd|calc"
    assert rows[0]["details"] == '{"note": "-1+2"}'


def csv_rows(answer) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))


# Nobody edits a line; old lines go.


def test_the_admin_shows_lines_and_offers_no_add_change_or_delete(staff, log):
    entry = log[0]
    assert staff.get(reverse("admin:distribution_auditentry_changelist")).status_code == 200
    page = staff.get(reverse("admin:distribution_auditentry_change", args=[entry.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert staff.get(reverse("admin:distribution_auditentry_add")).status_code == 403
    delete = reverse("admin:distribution_auditentry_delete", args=[entry.pk])
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    staff.post(
        reverse("admin:distribution_auditentry_change", args=[entry.pk]), {"action": "nothing.happened"}
    )
    entry.refresh_from_db()
    assert entry.action == "user.signed_in"


def test_the_purge_removes_lines_older_than_the_retention_and_is_scheduled(settings, log):
    assert "distribution.purge_audit_log" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    settings.FANOUT_AUDIT_RETENTION_DAYS = 2
    tasks.purge_audit_log.apply()
    assert list(AuditEntry.objects.values_list("action", flat=True)) == [
        "passkey.regenerated",
        "user.sign_in_failed",
        "release.retired",
    ]
    assert audit.purge_expired_entries() == 0


def test_with_no_retention_nothing_is_purged(settings, log):
    settings.FANOUT_AUDIT_RETENTION_DAYS = 0
    assert audit.purge_expired_entries() == 0
    assert AuditEntry.objects.count() == 5


def test_the_purge_goes_in_batches(settings, monkeypatch):
    monkeypatch.setattr(audit, "PURGE_BATCH", 3)
    for _ in range(7):
        audit.record("user.signed_in")
    AuditEntry.objects.update(at=timezone.now() - datetime.timedelta(days=400))
    settings.FANOUT_AUDIT_RETENTION_DAYS = 365
    assert audit.purge_expired_entries() == 7
    assert not AuditEntry.objects.exists()


def test_in_the_django_admin_activation_and_groups_are_read_only_and_privileges_recorded(staff, outsider):
    page = reverse("admin:auth_user_change", args=[outsider.pk])
    form = staff.get(page).context["adminform"].form
    assert "is_active" not in form.fields and "groups" not in form.fields
    answer = staff.post(
        page,
        {
            "username": outsider.username,
            "is_staff": "on",
            "is_active": "",  # read-only here: ignored
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert answer.status_code == 302, answer.context["adminform"].form.errors if answer.context else answer
    outsider.refresh_from_db()
    assert outsider.is_staff and outsider.is_active
    entry = only("user.privileges_changed")
    assert (entry.actor_name, entry.target_text) == ("admin", outsider.username)
    assert entry.details == {"is_staff": True}

    staff.post(
        reverse("admin:auth_user_add"),
        {"username": "newcomer", "password1": "x-Long-passw0rd!", "password2": "x-Long-passw0rd!"},
    )
    assert only("user.created").target_text == "newcomer"
