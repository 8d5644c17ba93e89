"""The write API with an API token: declare, upload with tus, build, follow, retire and retry,
notes and tags, statistics; DRF's error shape; who may do what."""

import base64
import datetime
import hashlib

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from distribution import services
from distribution.api_tokens import issue_api_token
from distribution.models import ApiToken, Release
from tests.factories import GroupFactory, UserFactory

pytestmark = pytest.mark.django_db

FILES = {"bin/app.bin": b"a" * 70_000 + b"end", "README.txt": b"read me\n"}


@pytest.fixture(autouse=True)
def uploads_dir(settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path / "uploads"
    settings.UPLOADS_DIR.mkdir()


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def token(publisher, product) -> str:
    return issue_api_token(publisher, name="ci", scope=ApiToken.Scope.PUBLISH)[1]


def declare(client, token: str, **fields):
    body = {
        "product": "atlas",
        "version": "2.0",
        "notes": "Faster.",
        "tags": ["Nightly Build"],
        "files": [{"path": path, "size": len(data)} for path, data in FILES.items()],
        **fields,
    }
    return client.post(reverse("api-release-list"), body, content_type="application/json", **auth(token))


def upload(client, token: str, release_id: int, path: str, data: bytes) -> None:
    metadata = ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in (("release", str(release_id)), ("relativePath", path))
    )
    tus = {"HTTP_TUS_RESUMABLE": "1.0.0", **auth(token)}
    created = client.post(
        reverse("tus-create"), HTTP_UPLOAD_LENGTH=str(len(data)), HTTP_UPLOAD_METADATA=metadata, **tus
    )
    assert created.status_code == 201, created.content
    sent = client.generic(
        "PATCH",
        created["Location"],
        data,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET="0",
        **tus,
    )
    assert sent.status_code == 204, sent.content


def test_a_publish_token_publishes_a_release_from_declaration_to_build(
    client, token, django_capture_on_commit_callbacks
):
    declared = declare(client, token)
    assert declared.status_code == 201, declared.content
    state = declared.json()
    release_id = state["release_id"]
    assert state["files"] == {
        path: {"size": len(d), "offset": 0, "complete": False, "fingerprint": ""} for path, d in FILES.items()
    }
    assert state["release_url"].endswith(f"/releases/{release_id}/")
    assert state["complete_url"] == reverse("api-release-finish", args=[release_id])

    # Declared again (a rerun of the same command): the same release, to resume.
    assert declare(client, token).json()["release_id"] == release_id
    too_soon = client.post(state["complete_url"], **auth(token))
    assert too_soon.status_code == 409
    assert "not uploaded yet" in too_soon.json()["detail"]

    for path, data in FILES.items():
        upload(client, token, release_id, path, data)
    with django_capture_on_commit_callbacks() as queued:
        finished = client.post(state["complete_url"], **auth(token))
    assert finished.status_code == 202 and finished.json()["status"] == "processing"
    assert len(queued) == 1
    services.build_release_torrent(release_id=release_id)

    detail = client.get(reverse("api-release-detail", args=[release_id]), **auth(token)).json()
    assert detail["status"] == "published" and detail["build_percent"] == 100
    assert detail["tags"] == ["nightly-build"] and detail["notes"] == "Faster."
    assert {f["path"]: f["sha256"] for f in detail["files"]} == {
        path: hashlib.sha256(data).hexdigest() for path, data in FILES.items()
    }
    found = client.get(reverse("api-release-list"), {"info_hash": detail["info_hash_v1"]}).json()
    assert [r["id"] for r in found["results"]] == [release_id]
    seeding = client.get(reverse("api-release-seeding", args=[release_id]), **auth(token)).json()
    assert seeding == {"release_id": release_id, "seeded": False}


def test_a_publisher_follows_a_draft_that_no_one_else_sees(client, token, outsider):
    release_id = declare(client, token).json()["release_id"]
    path = reverse("api-release-detail", args=[release_id])
    assert client.get(path, **auth(token)).json()["status"] == "draft"
    assert client.get(path).status_code == 404
    _, outsiders = issue_api_token(outsider, name="x", scope=ApiToken.Scope.READ)
    assert client.get(path, **auth(outsiders)).status_code == 404


def test_notes_tags_retire_and_retry_through_the_api(client, token, publisher, product):
    release = Release.objects.create(
        product=product,
        version="1.0",
        status="published",
        torrent_format="v1",
        created_at=datetime.datetime(2026, 1, 1, 9, tzinfo=datetime.UTC),
    )
    path = reverse("api-release-detail", args=[release.pk])
    changed = client.patch(
        path, {"notes": "Now with *notes*.", "tags": ["lts", "LTS", "x86"]}, content_type="application/json",
        **auth(token),
    )  # fmt: skip
    assert changed.status_code == 200, changed.content
    assert changed.json()["notes"] == "Now with *notes*." and sorted(changed.json()["tags"]) == ["lts", "x86"]
    assert client.put(path, {}, content_type="application/json", **auth(token)).status_code == 405

    retry = client.post(reverse("api-release-retry", args=[release.pk]), **auth(token))
    assert retry.status_code == 409
    assert retry.json() == {"detail": "Only a failed release can be retried; this one is published."}
    retired = client.post(reverse("api-release-retire", args=[release.pk]), **auth(token))
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    assert client.post(reverse("api-release-retire", args=[release.pk]), **auth(token)).status_code == 409

    stats = client.get(
        reverse("api-release-stats", args=[release.pk]), {"from": "2026-01-01", "to": "2026-01-03"}
    )
    assert stats.status_code == 403  # a public release: anyone may know it, not read its statistics
    stats = client.get(
        reverse("api-release-stats", args=[release.pk]),
        {"from": "2026-01-01", "to": "2026-01-03"},
        **auth(token),
    )
    assert [day["day"] for day in stats.json()["days"]] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert stats.json()["days"][0]["completed"] == 0


def test_a_private_release_names_its_audience_by_group(client, token):
    GroupFactory(name="qa")
    declared = declare(client, token, visibility="private", audience=["qa"])
    assert declared.status_code == 201
    release = Release.objects.get(pk=declared.json()["release_id"])
    assert list(release.audience.values_list("name", flat=True)) == ["qa"]
    unknown = declare(client, token, version="2.1", visibility="private", audience=["qa", "nobody"])
    assert unknown.status_code == 400 and unknown.json() == {"audience": ["No such group: nobody."]}
    public = declare(client, token, version="2.2", audience=["qa"])
    assert public.status_code == 400
    assert public.json() == {
        "detail": "Only a private release has an audience: make it private or name no group."
    }


def test_who_may_publish_what(client, token, product, outsider, other_publisher, settings):
    settings.FANOUT_PRODUCT_CREATORS = "publishers"
    _, read_only = issue_api_token(UserFactory(is_staff=True), name="ro", scope=ApiToken.Scope.READ)
    assert declare(client, read_only).status_code == 403
    _, not_a_publisher = issue_api_token(outsider, name="x", scope=ApiToken.Scope.PUBLISH)
    assert declare(client, not_a_publisher).json() == {"detail": "Only publishers can publish."}
    _, others = issue_api_token(other_publisher, name="y", scope=ApiToken.Scope.PUBLISH)
    refused = declare(client, others)
    assert refused.status_code == 400 and refused.json() == {"detail": "You do not publish Atlas."}
    release_id = declare(client, token).json()["release_id"]
    for name in ("api-release-finish", "api-release-retire", "api-release-retry"):
        answer = client.post(reverse(name, args=[release_id]), **auth(others))
        assert answer.status_code == 404, (name, answer.content)
    new_product = declare(client, others, product="Zephyr")
    assert new_product.status_code == 201
    assert (
        Release.objects.get(pk=new_product.json()["release_id"]).product.publishers.get() == other_publisher
    )
    assert not declare(client, token, files=[]).json()["files"] == []
    assert Group.objects.filter(name="qa").count() == 0
