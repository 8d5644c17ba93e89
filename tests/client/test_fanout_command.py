"""The fanout command against `make run`'s processes: publish from CI, get on a fleet, through
real uploads (tus), the real tracker and seeder, and libtorrent in the command."""

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import libtorrent as lt
import pytest
import requests

from tests.client.conftest import FANOUT, SEEDER_UPLOAD_LIMIT, command_env
from tests.client.cutting_proxy import CuttingProxy

pytestmark = pytest.mark.slow


def write(path: Path, data: bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def published_url(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[0]


def test_a_publish_token_publishes_files_and_a_folder_that_get_fetches_byte_exact(instance, fanout, tmp_path):
    source = tmp_path / "build"
    expected = {
        "app.bin": write(source / "app.bin", os.urandom(1536 * 1024 + 7)),
        "README.txt": write(source / "README.txt", b"Read me.\n"),
        "assets/logo.png": write(source / "assets" / "logo.png", os.urandom(70_000)),
        "assets/fonts/mono.ttf": write(source / "assets" / "fonts" / "mono.ttf", os.urandom(20_000)),
    }
    ci = tmp_path / "ci"
    ci.mkdir()

    published = fanout(
        "publish", "../build/app.bin", "../build/README.txt", "../build/assets",
        "--product", "atlas", "--version", "1.0", "--notes", "First.", "--tags", "nightly",
        "--format", "hybrid", "--wait", token=instance.tokens["publisher"], cwd=ci,
    )  # fmt: skip
    url = published_url(published)
    assert url.startswith("http://localhost:") and "/releases/" in url
    assert "published and seeded" in published.stderr

    got = fanout("get", url, "--dest", "fleet", "--seed-for", "0", "--json", token=instance.tokens["member"])

    assert got.returncode == 0, got.stderr
    report = json.loads(got.stdout)
    content = Path(report["path"])
    assert content == tmp_path / "fleet" / "atlas-1.0"
    for path, data in expected.items():
        assert (content / path).read_bytes() == data, path
    assert sorted(f["path"] for f in report["files"]) == sorted(f"atlas-1.0/{path}" for path in expected)
    assert all(f["verified"] for f in report["files"])
    assert report["resumed_bytes"] == 0 and report["repaired"] == []
    listed = fanout("ls", "atlas", "--json", token=instance.tokens["member"])
    assert [(r["product"]["slug"], r["version"]) for r in json.loads(listed.stdout)] == [("atlas", "1.0")]
    table = fanout("ls", token=instance.tokens["member"]).stdout
    assert "atlas" in table and "1.0" in table and url in table


def test_a_get_killed_midway_resumes_without_starting_over(instance, fanout, tmp_path):
    payload = write(tmp_path / "dataset.bin", os.urandom(6 * SEEDER_UPLOAD_LIMIT))
    url = published_url(
        fanout("publish", "dataset.bin", "--product", "dataset", "--version", "7", "--wait",
               token=instance.tokens["publisher"])
    )  # fmt: skip
    first = subprocess.Popen(
        [FANOUT, "get", url, "--dest", "fleet", "--seed-for", "0", "--json"],
        cwd=tmp_path,
        env=command_env(instance, instance.tokens["member"], tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    resume_dir = tmp_path / "fleet" / ".fanout"
    try:
        # Killed once it has a third of the release and resume data says it has pieces.
        wait_for_line(first, r"downloading \[.*\]\s+([3-9]\d)%")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not pieces_in_resume_data(resume_dir):
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(30)
    assert first.returncode == -signal.SIGKILL
    kept = pieces_in_resume_data(resume_dir)
    assert kept > 0

    again = fanout(
        "get", url, "--dest", "fleet", "--seed-for", "0", "--json", token=instance.tokens["member"]
    )

    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (tmp_path / "fleet" / "dataset.bin").read_bytes() == payload
    assert report["resumed_bytes"] > 0
    assert report["downloaded_bytes"] < len(payload)
    assert "resuming" in again.stderr


def test_a_file_corrupted_in_the_destination_is_found_and_fetched_again(instance, fanout, tmp_path):
    payload = write(tmp_path / "tool.bin", os.urandom(1024 * 1024))
    url = published_url(
        fanout("publish", "tool.bin", "--product", "tool", "--version", "2", "--format", "v2", "--wait",
               token=instance.tokens["publisher"])
    )  # fmt: skip
    assert (
        fanout("get", url, "--dest", "fleet", "--seed-for", "0", token=instance.tokens["member"]).returncode
        == 0
    )
    downloaded = tmp_path / "fleet" / "tool.bin"
    with downloaded.open("r+b") as stream:
        stream.seek(500_000)
        stream.write(b"\0rot")

    again = fanout(
        "get", url, "--dest", "fleet", "--seed-for", "0", "--json", token=instance.tokens["member"]
    )

    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["repaired"] == ["tool.bin"]
    assert "SHA-256 differs for tool.bin" in again.stderr
    assert downloaded.read_bytes() == payload
    assert 0 < report["downloaded_bytes"] < len(payload) // 2


def test_a_private_release_reaches_its_audience_and_refuses_anyone_else(instance, fanout, tmp_path):
    payload = write(tmp_path / "vault" / "keys.bin", os.urandom(300_000))
    write(tmp_path / "vault" / "notes.txt", b"for qa only\n")
    url = published_url(
        fanout("publish", "vault", "--product", "vault", "--version", "1.0", "--private", "--audience", "qa",
               "--wait", token=instance.tokens["publisher"])
    )  # fmt: skip

    member = fanout("get", url, "--dest", "member", "--seed-for", "0", token=instance.tokens["member"])
    outsider = fanout("get", url, "--dest", "outsider", "--seed-for", "0", token=instance.tokens["outsider"])

    assert member.returncode == 0, member.stderr
    metainfo = requests.get(
        url.replace(url.split("/releases/")[0], instance.url) + "torrent",
        headers={"Authorization": f"Bearer {instance.tokens['member']}"},
        timeout=10,
    ).content
    passkey = lt.bdecode(metainfo)[b"announce"].decode().rsplit("/", 1)[1]
    assert passkey not in member.stderr + member.stdout
    assert Path(member.stdout.strip()) == tmp_path / "member" / "vault-1.0"
    assert (tmp_path / "member" / "vault-1.0" / "keys.bin").read_bytes() == payload
    assert outsider.returncode == 1
    assert "does not exist, or this token may not see it" in outsider.stderr
    assert len(outsider.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "outsider").exists()


def test_a_refusal_is_one_line_with_the_servers_reason_and_exit_status_1(instance, fanout, tmp_path):
    token = instance.manage("token", "create", "pia", "--name", "leaked").strip()
    write(tmp_path / "x.bin", b"x" * 1000)
    instance.manage("token", "revoke", token[:8])
    publisher = instance.tokens["publisher"]
    assert fanout("publish", "x.bin", "--product", "x", "--version", "1", token=publisher).returncode == 0

    revoked = [
        fanout("get", f"{instance.url}/releases/1/", token=token),
        fanout("publish", "x.bin", "--product", "x", "--version", "2", token=token),
        fanout("ls", token=token),
    ]
    read_only = fanout(
        "publish", "x.bin", "--product", "x", "--version", "2", token=instance.tokens["publisher_read"]
    )
    again = fanout("publish", "x.bin", "--product", "x", "--version", "1", token=publisher)
    no_group = fanout(
        "publish",
        "x.bin",
        "--product",
        "x",
        "--version",
        "3",
        "--private",
        "--audience",
        "nobody",
        token=publisher,
    )

    assert [(done.returncode, done.stderr) for done in revoked] == [
        (1, "fanout: 401 Unauthorized: The API token is unknown or revoked.\n")
    ] * 3
    assert (read_only.returncode, read_only.stderr) == (
        1,
        "fanout: 403 Forbidden: This token may only read: make one with the publish scope.\n",
    )
    assert (again.returncode, again.stderr) == (1, "fanout: 400 Bad Request: x already has a release 1.\n")
    assert (no_group.returncode, no_group.stderr) == (
        1,
        "fanout: 400 Bad Request: audience: No such group: nobody.\n",
    )


def test_publish_resumes_after_a_dropped_connection_and_after_a_rerun(instance, fanout, tmp_path):
    proxy = CuttingProxy(int(instance.url.rsplit(":", 1)[1]))
    through_proxy = {**command_env(instance, instance.tokens["publisher"], tmp_path),
                     "FANOUT_URL": f"http://localhost:{proxy.port}"}  # fmt: skip
    size = 5 * 1024 * 1024
    first = write(tmp_path / "first.bin", os.urandom(size))
    second = write(tmp_path / "second.bin", os.urandom(size))
    try:
        proxy.cut_after = 2 * 1024 * 1024
        dropped = subprocess.run(
            [FANOUT, "publish", "first.bin", "--product", "resumable", "--version", "1", "--json"],
            cwd=tmp_path, env=through_proxy, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert dropped.returncode == 0, dropped.stderr
        assert proxy.cuts == 1
        assert "first.bin: connection lost" in dropped.stderr
        release = json.loads(dropped.stdout)
        assert release["upload"] == {"sent_bytes": size, "resumed_bytes": 0}
        assert [f["sha256"] for f in release["files"]] == [hashlib.sha256(first).hexdigest()]
        assert proxy.forwarded < 2 * size, "the retry started over"

        publish_killed_midway(
            proxy, ["second.bin", "--product", "resumable", "--version", "2"], tmp_path, through_proxy,
            instance.tokens["publisher"],
        )  # fmt: skip
        rerun = subprocess.run(
            [FANOUT, "publish", "second.bin", "--product", "resumable", "--version", "2", "--json", "--wait"],
            cwd=tmp_path, env=through_proxy, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        proxy.close()

    assert rerun.returncode == 0, rerun.stderr
    release = json.loads(rerun.stdout)
    assert 0 < release["upload"]["resumed_bytes"] < size
    assert release["upload"]["sent_bytes"] == size - release["upload"]["resumed_bytes"]
    assert "second.bin: resuming at byte" in rerun.stderr
    assert release["status"] == "published" and release["seeded"] is True
    assert [f["sha256"] for f in release["files"]] == [hashlib.sha256(second).hexdigest()]


def test_a_rerun_after_the_file_changed_sends_the_new_bytes_whole(instance, fanout, tmp_path):
    proxy = CuttingProxy(int(instance.url.rsplit(":", 1)[1]))
    through_proxy = {**command_env(instance, instance.tokens["publisher"], tmp_path),
                     "FANOUT_URL": f"http://localhost:{proxy.port}"}  # fmt: skip
    size = 5 * 1024 * 1024
    write(tmp_path / "build.bin", os.urandom(size))
    arguments = ["build.bin", "--product", "changing", "--version", "1"]
    try:
        publish_killed_midway(proxy, arguments, tmp_path, through_proxy, instance.tokens["publisher"])
    finally:
        proxy.close()
    # Rebuilt meanwhile: the same name and size, other bytes.
    rebuilt = write(tmp_path / "build.bin", os.urandom(size))
    rerun = fanout("publish", *arguments, "--json", token=instance.tokens["publisher"])

    assert rerun.returncode == 0, rerun.stderr
    release = json.loads(rerun.stdout)
    assert release["upload"] == {"sent_bytes": size, "resumed_bytes": 0}
    assert [f["sha256"] for f in release["files"]] == [hashlib.sha256(rebuilt).hexdigest()]


def test_a_file_sent_whole_then_changed_is_refused_not_published_stale(instance, fanout, tmp_path):
    data = write(tmp_path / "tool.bin", os.urandom(300_000))
    auth = {"Authorization": f"Bearer {instance.tokens['publisher']}"}
    # An earlier run sent the whole file, and died before it finished the release.
    declared = requests.post(
        f"{instance.url}/api/releases/",
        json={"product": "stale", "version": "1", "files": [{"path": "tool.bin", "size": len(data)}]},
        headers=auth,
        timeout=30,
    ).json()
    tus = {**auth, "Tus-Resumable": "1.0.0"}
    created = requests.post(
        instance.url + declared["upload_url"],
        headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": ",".join(
            f"{key} {base64.b64encode(value.encode()).decode()}"
            for key, value in {"release": str(declared["release_id"]), "relativePath": "tool.bin",
                               "fingerprint": f"{len(data)}:1"}.items()
        )},
        timeout=30,
    )  # fmt: skip
    sent = requests.patch(
        created.headers["Location"],
        data=data,
        headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        timeout=30,
    )
    assert sent.status_code == 204

    rerun = fanout(
        "publish", "tool.bin", "--product", "stale", "--version", "1", token=instance.tokens["publisher"]
    )

    assert rerun.returncode == 1
    assert f"tool.bin changed since it was sent to release {declared['release_id']}" in rerun.stderr


def publish_killed_midway(
    proxy: CuttingProxy, arguments: list[str], cwd: Path, env: dict[str, str], token: str
) -> None:
    """`fanout publish` stalled after 3 MiB and killed, once the server holds some of its upload."""
    proxy.stall_after = 3 * 1024 * 1024
    hung = subprocess.Popen(
        [FANOUT, "publish", *arguments], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proxy.stalled.wait(60)
    hung.kill()
    hung.wait(30)
    # The server keeps what arrived once the connection closes.
    assert proxy.upstream_closed_after_stall.wait(30)
    wait_for_stored_bytes(cwd / "home", token)
    proxy.stall_after = None


def wait_for_line(process: subprocess.Popen, pattern: str, timeout: float = 60) -> None:
    """Read the process's stderr until a line matches ``pattern``; fail if it ends first."""
    found = threading.Event()
    lines: list[str] = []

    def read() -> None:
        for line in process.stderr:
            lines.append(line)
            if re.search(pattern, line):
                found.set()

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(timeout), "no line matched " + pattern + ":\n" + "".join(lines)


def wait_for_stored_bytes(home: Path, token: str, timeout: float = 10) -> None:
    """Until the server says it has bytes of the upload the command left in its state file."""
    (url,) = json.loads((home / ".local" / "state" / "fanout" / "uploads.json").read_text()).values()
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = requests.head(url, headers=headers, timeout=10)
        if int(answer.headers["Upload-Offset"]):
            return
        time.sleep(0.1)
    raise AssertionError("the server kept nothing of the interrupted upload")


def pieces_in_resume_data(resume_dir: Path) -> int:
    files = list(resume_dir.glob("*.resume"))
    if not files:
        return 0
    try:
        params = lt.read_resume_data(files[0].read_bytes())
    except RuntimeError:
        return 0
    return sum(1 for have in params.have_pieces if have)
