"""The tus endpoint, through real requests: declare, create, PATCH, HEAD, resume, terminate, expire."""

import base64
import hashlib
import http.client
import json
import os
import time
from datetime import timedelta
from urllib.parse import urlsplit

import libtorrent as lt
import pytest
from django.db import transaction
from django.utils import timezone

from bittorrent import torrents
from distribution import services, uploads
from distribution.models import Release, ReleaseFile, Upload

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


@pytest.fixture(autouse=True)
def publishers_group(db):
    """Transactional tests empty the database, the publishers group from the migrations too."""
    from django.contrib.auth.models import Group

    from distribution.access import PUBLISHERS_GROUP

    Group.objects.get_or_create(name=PUBLISHERS_GROUP)


@pytest.fixture(autouse=True)
def uploads_dir(settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path / "uploads"
    settings.UPLOADS_DIR.mkdir()
    return settings.UPLOADS_DIR


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def declare(client, files: dict[str, bytes], *, version="1.0", torrent_format="v1", product="atlas"):
    from distribution.models import Product

    response = client.post(
        "/publish/start",
        {
            "product": Product.objects.get(slug=product).pk,
            "version": version,
            "visibility": "public",
            "torrent_format": torrent_format,
            "manifest": json.dumps([{"path": p, "size": len(d)} for p, d in files.items()]),
        },
    )
    return response


def create(client, release_id: int, path: str, length: int, **more_metadata: str):
    return client.post(
        "/uploads/",
        HTTP_UPLOAD_LENGTH=str(length),
        HTTP_UPLOAD_METADATA=metadata(
            release=str(release_id), relativePath=path, filename=path, **more_metadata
        ),
        **TUS,
    )


def patch(client, location: str, offset: int, data: bytes):
    return client.generic(
        "PATCH",
        urlsplit(location).path,
        data,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET=str(offset),
        **TUS,
    )


def head(client, location: str):
    return client.head(urlsplit(location).path, **TUS)


@pytest.fixture
def logged_in(client, publisher, product):
    client.force_login(publisher)
    return client


def test_it_answers_options_with_its_version_and_extensions(client):
    response = client.options("/uploads/")

    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert set(response["Tus-Extension"].split(",")) == {"creation", "termination", "expiration"}


def test_it_takes_a_file_in_chunks_and_reports_the_offset(logged_in):
    data = os.urandom(300_000)
    release_id = declare(logged_in, {"a.bin": data}).json()["release_id"]
    created = create(logged_in, release_id, "a.bin", len(data))
    assert created.status_code == 201
    assert "Upload-Expires" in created
    location = created["Location"]

    assert patch(logged_in, location, 0, data[:100_000]).status_code == 204
    assert head(logged_in, location)["Upload-Offset"] == "100000"
    assert Release.objects.get().status == Release.Status.UPLOADING
    done = patch(logged_in, location, 100_000, data[100_000:])

    assert done.status_code == 204
    assert done["Upload-Offset"] == str(len(data))
    release_file = ReleaseFile.objects.get()
    assert release_file.sha256 == hashlib.sha256(data).hexdigest()
    assert release_file.disk_path.read_bytes() == data


def test_it_refuses_a_wrong_offset_with_409_and_keeps_the_bytes(logged_in):
    data = os.urandom(50_000)
    release_id = declare(logged_in, {"a.bin": data}).json()["release_id"]
    location = create(logged_in, release_id, "a.bin", len(data))["Location"]
    patch(logged_in, location, 0, data[:20_000])

    for wrong in (0, 10_000, 30_000):
        response = patch(logged_in, location, wrong, b"x" * 1000)
        assert response.status_code == 409
        assert "resume from there" in response.content.decode()

    assert head(logged_in, location)["Upload-Offset"] == "20000"
    patch(logged_in, location, 20_000, data[20_000:])
    assert ReleaseFile.objects.get().sha256 == hashlib.sha256(data).hexdigest()


def test_it_refuses_oversized_and_path_traversing_uploads_before_storing_anything(
    logged_in, settings, releases_dir
):
    settings.FANOUT_RELEASE_MAX_BYTES = 1000
    release_id = declare(logged_in, {"a.bin": b"x" * 10}).json()["release_id"]

    too_big = create(logged_in, release_id, "a.bin", 5000)
    traversing = create(logged_in, release_id, "../../etc/passwd", 10)
    undeclared = create(logged_in, release_id, "b.bin", 10)
    wrong_size = create(logged_in, release_id, "a.bin", 11)

    assert too_big.status_code == 413 and "more than a release may hold" in too_big.content.decode()
    assert traversing.status_code == 400 and "'..'" in traversing.content.decode()
    assert undeclared.status_code == 400 and "not declared" in undeclared.content.decode()
    assert wrong_size.status_code == 400 and "declared with 10 bytes" in wrong_size.content.decode()
    assert not Upload.objects.exists()
    assert not releases_dir.exists() or not any(releases_dir.rglob("*.*"))


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"../escape": b"x"}, "'..'"),
        ({"/abs": b"x"}, "relative"),
        ({"a\x01": b"x"}, "control characters"),
        ({"A.txt": b"x", "a.TXT": b"y"}, "twice"),
        ({"big": b"x" * 2000}, "limit is 1000"),
    ],
)
def test_it_refuses_a_bad_declaration_with_the_reason(logged_in, settings, files, message):
    settings.FANOUT_RELEASE_MAX_BYTES = 1000

    response = declare(logged_in, files)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not Release.objects.exists()


def test_it_refuses_a_release_over_the_publishers_quota(logged_in, settings, publisher, product):
    settings.FANOUT_PUBLISHER_QUOTA_BYTES = 1500
    assert declare(logged_in, {"a": b"x" * 1000}, version="1").status_code == 201

    response = declare(logged_in, {"a": b"x" * 1000}, version="2")

    assert response.status_code == 400
    assert "your quota is 1.5\xa0KiB (1,500 bytes)" in response.json()["error"]


def test_it_gives_back_the_same_draft_when_the_page_is_reloaded(logged_in):
    first = declare(logged_in, {"a": b"x" * 10}).json()
    again = declare(logged_in, {"a": b"x" * 10}).json()

    assert again["release_id"] == first["release_id"]


def test_it_terminates_an_upload_and_removes_its_bytes(logged_in, django_capture_on_commit_callbacks):
    release_id = declare(logged_in, {"a.bin": b"x" * 100}).json()["release_id"]
    location = create(logged_in, release_id, "a.bin", 100)["Location"]
    patch(logged_in, location, 0, b"x" * 40)
    data_path = ReleaseFile.objects.get().disk_path

    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.delete(urlsplit(location).path, **TUS)

    assert response.status_code == 204
    assert not Upload.objects.exists()
    assert not data_path.exists()
    assert head(logged_in, location).status_code == 404


def test_it_refuses_to_terminate_an_upload_once_the_build_started(logged_in, publisher):
    release_id = declare(logged_in, {"a.bin": b"x" * 10}).json()["release_id"]
    location = create(logged_in, release_id, "a.bin", 10)["Location"]
    patch(logged_in, location, 0, b"x" * 10)
    # A DELETE that read its upload just before the page asked for the build.
    read_before = uploads.get_upload(upload_id=urlsplit(location).path.rsplit("/", 1)[1], user=publisher)
    assert logged_in.post(f"/releases/{release_id}/uploaded").status_code == 200

    with pytest.raises(uploads.UploadError, match="is processing; its files can no longer change") as refused:
        uploads.terminate(upload=read_before)

    assert refused.value.status == 409
    assert Upload.objects.filter(pk=read_before.pk).exists()
    assert read_before.release_file.disk_path.read_bytes() == b"x" * 10
    assert Release.objects.get().status == Release.Status.PROCESSING


def test_a_creation_asked_again_while_a_request_writes_gives_the_upload_back_untouched(logged_in, publisher):
    release_id = declare(logged_in, {"a.bin": b"x" * 100}).json()["release_id"]
    location = create(logged_in, release_id, "a.bin", 100)["Location"]
    patch(logged_in, location, 0, b"x" * 40)
    writing = uploads.get_upload(upload_id=urlsplit(location).path.rsplit("/", 1)[1], user=publisher)

    with uploads._writer_lock(writing):
        again = create(logged_in, release_id, "a.bin", 100)

    assert again.status_code == 201
    assert (again["Location"], again["Upload-Offset"]) == (location, "40")
    assert ReleaseFile.objects.get().disk_path.read_bytes() == b"x" * 40


def test_a_write_to_an_upload_removed_meanwhile_is_refused_not_failed(logged_in, publisher):
    release_id = declare(logged_in, {"a.bin": b"x" * 100}).json()["release_id"]
    location = create(logged_in, release_id, "a.bin", 100)["Location"]
    read_before = uploads.get_upload(upload_id=urlsplit(location).path.rsplit("/", 1)[1], user=publisher)
    assert logged_in.delete(urlsplit(location).path, **TUS).status_code == 204
    replacement = create(logged_in, release_id, "a.bin", 100)["Location"]

    with pytest.raises(uploads.UploadError, match="replaced or removed") as refused:
        uploads.receive(upload=read_before, offset=0, read=lambda size: b"y" * size, length=10)

    assert refused.value.status == 404
    assert replacement != location and head(logged_in, replacement)["Upload-Offset"] == "0"


class RolledBack(Exception):
    pass


def test_it_keeps_the_bytes_of_a_termination_that_rolls_back(logged_in, publisher):
    release_id = declare(logged_in, {"a.bin": b"x" * 100}).json()["release_id"]
    location = create(logged_in, release_id, "a.bin", 100)["Location"]
    patch(logged_in, location, 0, b"x" * 40)
    upload = uploads.get_upload(upload_id=urlsplit(location).path.rsplit("/", 1)[1], user=publisher)
    data_path, hash_state_dir = upload.release_file.disk_path, upload.hash_state_dir

    with pytest.raises(RolledBack), transaction.atomic():
        uploads.terminate(upload=upload)
        raise RolledBack

    assert head(logged_in, location)["Upload-Offset"] == "40"
    assert data_path.read_bytes() == b"x" * 40
    assert hash_state_dir.exists()


def test_it_keeps_the_files_of_an_abandoned_draft_whose_removal_rolls_back(logged_in, settings):
    release_id = declare(logged_in, {"a.bin": b"x" * 100}).json()["release_id"]
    location = create(logged_in, release_id, "a.bin", 100)["Location"]
    patch(logged_in, location, 0, b"x" * 40)
    long_ago = timezone.now() - timedelta(seconds=settings.FANOUT_UPLOAD_EXPIRY_SECONDS + 1)
    Release.objects.filter(pk=release_id).update(created_at=long_ago)
    Upload.objects.update(expires_at=long_ago)
    upload = Upload.objects.get()

    with pytest.raises(RolledBack), transaction.atomic():
        assert uploads.expire_uploads() == 2
        raise RolledBack

    assert head(logged_in, location)["Upload-Offset"] == "40"
    assert upload.release_file.disk_path.read_bytes() == b"x" * 40
    assert upload.hash_state_dir.exists()


def test_it_cleans_up_an_abandoned_upload_once_it_expires(
    logged_in, uploads_dir, django_capture_on_commit_callbacks
):
    release_id = declare(logged_in, {"a.bin": b"x" * 100, "b.bin": b"y" * 100}).json()["release_id"]
    stale = create(logged_in, release_id, "a.bin", 100)["Location"]
    patch(logged_in, stale, 0, b"x" * 40)
    fresh = create(logged_in, release_id, "b.bin", 100)["Location"]
    patch(logged_in, fresh, 0, b"y" * 40)
    stale_upload = Upload.objects.get(release_file__path="a.bin")
    Upload.objects.filter(pk=stale_upload.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    from distribution.tasks import expire_uploads

    with django_capture_on_commit_callbacks(execute=True):
        expire_uploads.apply()

    assert list(Upload.objects.values_list("release_file__path", flat=True)) == ["b.bin"]
    assert not stale_upload.release_file.disk_path.exists()
    assert not stale_upload.hash_state_dir.exists()
    assert head(logged_in, stale).status_code == 404
    assert head(logged_in, fresh)["Upload-Offset"] == "40"


def test_it_removes_an_abandoned_draft_and_frees_the_quota(
    logged_in, settings, django_capture_on_commit_callbacks
):
    settings.FANOUT_PUBLISHER_QUOTA_BYTES = 150
    abandoned = declare(logged_in, {"a.bin": b"x" * 100}, version="1").json()["release_id"]
    location = create(logged_in, abandoned, "a.bin", 100)["Location"]
    patch(logged_in, location, 0, b"x" * 40)
    long_ago = timezone.now() - timedelta(seconds=settings.FANOUT_UPLOAD_EXPIRY_SECONDS + 1)
    Release.objects.filter(pk=abandoned).update(created_at=long_ago)
    Upload.objects.update(expires_at=long_ago)
    content_dir = Release.objects.get(pk=abandoned).content_dir
    assert declare(logged_in, {"b.bin": b"y" * 100}, version="2").status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        uploads.expire_uploads()

    assert not Release.objects.filter(pk=abandoned).exists()
    assert not content_dir.exists()
    assert declare(logged_in, {"b.bin": b"y" * 100}, version="2").status_code == 201


def test_it_keeps_uploads_to_other_publishers_private(logged_in, client, other_publisher):
    release_id = declare(logged_in, {"a.bin": b"x" * 100}).json()["release_id"]
    location = create(logged_in, release_id, "a.bin", 100)["Location"]
    client.force_login(other_publisher)

    assert head(client, location).status_code == 404
    assert create(client, release_id, "a.bin", 100).status_code == 404


def send_and_drop(url: str, cookie: str, offset: int, total: int, data: bytes) -> None:
    """A PATCH announcing ``total`` bytes whose connection drops after ``data``, as a browser sends it."""
    csrf = "c" * 32
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.putrequest("PATCH", parts.path)
    for name, value in {
        "Tus-Resumable": "1.0.0",
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": str(total),
        "Cookie": f"{cookie}; csrftoken={csrf}",
        "X-CSRFToken": csrf,
    }.items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(data)
    connection.sock.shutdown(2)
    connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("torrent_format", ["v1", "hybrid", "v2"])
def test_it_resumes_an_interrupted_upload_from_the_servers_offset_and_publishes(
    live_server, client, publisher, product, torrent_format
):
    client.force_login(publisher)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    files = {"big.bin": os.urandom(3_000_000 + 123), "docs/readme.txt": b"read me\n" * 1000}
    release_id = declare(client, files, torrent_format=torrent_format).json()["release_id"]
    big = files["big.bin"]
    location = live_server.url + urlsplit(create(client, release_id, "big.bin", len(big))["Location"]).path

    send_and_drop(location, cookie, 0, len(big), big[:1_234_567])
    deadline = time.monotonic() + 10
    while (
        offset := int(head(client, location)["Upload-Offset"])
    ) < 1_234_567 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert offset == 1_234_567
    # A server restart loses the running whole-file digest; the piece hashes on disk stay.
    uploads.running_digests.forget(urlsplit(location).path.rsplit("/", 1)[1])
    assert patch(client, location, offset, big[offset:]).status_code == 204
    readme = create(client, release_id, "docs/readme.txt", len(files["docs/readme.txt"]))["Location"]
    patch(client, readme, 0, files["docs/readme.txt"])
    assert client.post(f"/releases/{release_id}/uploaded").status_code == 200

    release = Release.objects.get(pk=release_id)
    assert release.status == Release.Status.PROCESSING
    assert {f.path: f.sha256 for f in release.files.all()} == {
        path: hashlib.sha256(data).hexdigest() for path, data in files.items()
    }
    services.build_release_torrent(release_id=release_id)
    release.refresh_from_db()
    assert release.status == Release.Status.PUBLISHED
    # The torrent built from hashes taken while uploading is the one built from the files alone.
    from_disk = torrents.build_torrent(
        content_dir=release.content_dir,
        content_name=release.content_name,
        is_single_file=release.is_single_file,
        files=[torrents.TorrentFile(f.path, f.size) for f in release.files.all()],
        torrent_format=torrent_format,
        announce_url="http://x/announce",
        web_seed_url="http://x/",
        private=False,
        comment="",
        source=f"Fanout {release.storage_key}",
        on_piece=lambda done, total: None,
    )
    assert lt.bdecode(bytes(release.torrent.metainfo))[b"info"] == lt.bdecode(from_disk.metainfo)[b"info"]
    sums = client.get(f"/releases/{release_id}/SHA256SUMS").content.decode()
    assert f"{hashlib.sha256(big).hexdigest()}  atlas-1.0/big.bin\n" in sums


def test_it_refuses_to_build_before_every_file_is_uploaded(logged_in):
    release_id = declare(logged_in, {"a": b"x" * 10, "b": b"y" * 10}).json()["release_id"]
    location = create(logged_in, release_id, "a", 10)["Location"]
    patch(logged_in, location, 0, b"x" * 10)

    response = logged_in.post(f"/releases/{release_id}/uploaded")

    assert response.status_code == 409
    assert "1 file(s) are not uploaded yet: b" in response.json()["error"]
    assert Release.objects.get().status == Release.Status.UPLOADING


def test_it_resumes_an_unfinished_upload_created_again_and_keeps_its_bytes(logged_in):
    data = os.urandom(200_000)
    release_id = declare(logged_in, {"a.bin": data}).json()["release_id"]
    location = create(logged_in, release_id, "a.bin", len(data))["Location"]
    patch(logged_in, location, 0, data[:70_000])
    expires = Upload.objects.get().expires_at

    # A rerun of `fanout publish` that lost the upload's URL declares the file again.
    again = create(logged_in, release_id, "a.bin", len(data))

    assert again.status_code == 201
    assert (again["Location"], again["Upload-Offset"]) == (location, "70000")
    assert Upload.objects.get().expires_at > expires
    assert ReleaseFile.objects.get().disk_path.read_bytes() == data[:70_000]
    assert patch(logged_in, again["Location"], 70_000, data[70_000:]).status_code == 204
    assert ReleaseFile.objects.get().sha256 == hashlib.sha256(data).hexdigest()
    finished = create(logged_in, release_id, "a.bin", len(data))
    assert finished.status_code == 409 and "already uploaded" in finished.content.decode()
    assert ReleaseFile.objects.get().disk_path.read_bytes() == data


def test_a_creation_for_changed_content_starts_the_unfinished_upload_over(
    logged_in, django_capture_on_commit_callbacks
):
    old, new = os.urandom(200_000), os.urandom(200_000)
    release_id = declare(logged_in, {"a.bin": old}).json()["release_id"]
    location = create(logged_in, release_id, "a.bin", len(old), fingerprint="200000:1")["Location"]
    patch(logged_in, location, 0, old[:70_000])
    same = create(logged_in, release_id, "a.bin", len(old), fingerprint="200000:1")
    assert (same["Location"], same["Upload-Offset"]) == (location, "70000")

    # Rebuilt since: same path and size, other bytes; the client says so.
    with django_capture_on_commit_callbacks(execute=True):
        changed = create(logged_in, release_id, "a.bin", len(new), fingerprint="200000:2")

    assert changed.status_code == 201
    assert changed["Location"] != location and changed["Upload-Offset"] == "0"
    assert head(logged_in, location).status_code == 404
    assert patch(logged_in, changed["Location"], 0, new).status_code == 204
    assert ReleaseFile.objects.get().disk_path.read_bytes() == new
    assert ReleaseFile.objects.get().sha256 == hashlib.sha256(new).hexdigest()
    assert Upload.objects.get().fingerprint == "200000:2"


def test_an_expired_upload_created_again_is_kept_by_the_cleanup(
    logged_in, django_capture_on_commit_callbacks
):
    release_id = declare(logged_in, {"a.bin": b"x" * 100}).json()["release_id"]
    location = create(logged_in, release_id, "a.bin", 100)["Location"]
    patch(logged_in, location, 0, b"x" * 40)
    Upload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert create(logged_in, release_id, "a.bin", 100)["Location"] == location
    with django_capture_on_commit_callbacks(execute=True):
        assert uploads.expire_uploads() == 0

    assert head(logged_in, location)["Upload-Offset"] == "40"
    assert ReleaseFile.objects.get().disk_path.read_bytes() == b"x" * 40


def test_it_leaves_another_users_unfinished_upload_alone(logged_in, admin_user):
    release_id = declare(logged_in, {"a.bin": b"x" * 100}).json()["release_id"]
    location = create(logged_in, release_id, "a.bin", 100)["Location"]
    patch(logged_in, location, 0, b"x" * 40)

    with pytest.raises(uploads.UploadError, match="being uploaded by another publisher") as refused:
        uploads.create_upload(release_id=release_id, path="a.bin", length=100, user=admin_user)

    assert refused.value.status == 409
    assert head(logged_in, location)["Upload-Offset"] == "40"
    assert ReleaseFile.objects.get().disk_path.read_bytes() == b"x" * 40


def test_an_upload_leaves_nothing_other_users_can_read(logged_in, uploads_dir, settings):
    data = os.urandom(200_000)
    release_id = declare(logged_in, {"docs/a.bin": data}, torrent_format="hybrid").json()["release_id"]
    location = create(logged_in, release_id, "docs/a.bin", len(data))["Location"]
    patch(logged_in, location, 0, data[:150_000])

    written = [*uploads_dir.rglob("*"), *settings.RELEASES_DIR.rglob("*")]
    assert ReleaseFile.objects.get().disk_path in written
    assert any(path.suffix == ".lock" for path in written)
    assert [path for path in written if path.lstat().st_mode & 0o007] == []
