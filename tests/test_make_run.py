"""`make run` on embedded defaults: serves the catalogue, and a second run keeps what was published."""

import http.cookiejar
import os
import re
import signal
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import libtorrent as lt
import pytest

from bittorrent import bencode
from harness.make_run import make_run_env
from harness.polling import wait_until
from harness.processes import MANAGE, ROOT
from tests.test_end_to_end import download_through_tracker, tracker_answer, without_web_seeds
from tracker.engine import REFUSED


@pytest.fixture
def instance_env(tmp_path):
    return make_run_env(tmp_path / "data")


def start_make_run(start_process, env):
    run = start_process("make run", ["make", "--no-print-directory", "-C", str(ROOT), "run"], env)
    login = run.wait_for(r"Fanout: (http://\S+/)  login: admin / (\S+)", timeout=120)
    run.wait_for(r"tracker listening on http://", timeout=60)
    run.wait_for(r"seeder local listening on port", timeout=60)
    run.wait_for(r"@\S+ ready\.", timeout=60)
    return run, login.group(1), login.group(2)


@pytest.mark.slow
def test_it_serves_and_keeps_releases_across_restarts(tmp_path, instance_env, start_process):
    run, url, password = start_make_run(start_process, instance_env)
    assert url == f"http://localhost:{instance_env['WEB_PORT']}/"
    secret_key = (tmp_path / "data" / "secret_key").read_text()
    payload = tmp_path / "notes.txt"
    payload.write_text("Fanout keeps this.\n")
    publish = start_process(
        "publish",
        [
            *MANAGE,
            "publish",
            str(payload),
            "--product",
            "keeper",
            "--version",
            "1.0",
            "--wait",
            "--timeout",
            "90",
        ],
        instance_env,
    )
    assert publish.wait_for_exit(120) == 0, publish.transcript()
    release_url = re.search(r"^(http://\S+/releases/\d+/)$", publish.transcript(), re.M).group(1)
    assert "keeper" in urllib.request.urlopen(url, timeout=10).read().decode()
    run.stop(signal.SIGINT)
    assert "stopping Fanout" in run.transcript()

    again, url_again, password_again = start_make_run(start_process, instance_env)

    assert (url_again, password_again) == (url, password)
    assert (tmp_path / "data" / "secret_key").read_text() == secret_key
    catalogue = urllib.request.urlopen(url, timeout=10).read().decode()
    assert "keeper" in catalogue and "1.0" in catalogue
    assert "notes.txt" in urllib.request.urlopen(release_url, timeout=10).read().decode()
    again.stop(signal.SIGINT)
    users = start_process(
        "count admins",
        [*MANAGE, "shell", "-c", "from django.contrib.auth.models import User; print(User.objects.count())"],
        instance_env,
    )
    assert users.wait_for_exit(60) == 0
    assert users.output[-1].strip() == "1"


class SignedInBrowser:
    """A user's browser against the instance: cookies, and the CSRF token Django's forms want."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> bytes:
        with self.opener.open(self.base_url + path, timeout=30) as response:
            return response.read()

    def status(self, path: str) -> int:
        try:
            with self.opener.open(self.base_url + path, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def post(self, path: str, fields: dict[str, str]) -> bytes:
        self.get(path)  # sets the CSRF cookie
        token = next(cookie.value for cookie in self.cookies if cookie.name == "csrftoken")
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base_url + path, data=body, headers={"Referer": self.base_url})
        with self.opener.open(request, timeout=30) as response:
            return response.read()

    def sign_in(self, username: str, password: str) -> None:
        self.post("/accounts/login/", {"username": username, "password": password})
        assert any(cookie.name == "sessionid" for cookie in self.cookies), f"{username} could not sign in"


def manage(start_process, env, *argv: str) -> str:
    done = start_process(f"manage.py {argv[0]}", [*MANAGE, *argv], env)
    assert done.wait_for_exit(120) == 0, done.transcript()
    return "".join(done.output)


@pytest.mark.slow
def test_a_private_release_downloads_through_make_run_for_its_audience_only(
    tmp_path, instance_env, start_process
):
    run, url, _ = start_make_run(start_process, instance_env)
    manage(
        start_process,
        instance_env,
        "shell",
        "-c",
        "from django.contrib.auth.models import Group, User\n"
        "qa = Group.objects.create(name='qa')\n"
        "for name in ('mia', 'olaf'):\n"
        "    User.objects.create_user(name, password='pass-' + name)\n"
        "User.objects.get(username='mia').groups.add(qa)\n",
    )
    member, outsider = SignedInBrowser(url), SignedInBrowser(url)
    member.sign_in("mia", "pass-mia")
    outsider.sign_in("olaf", "pass-olaf")
    # Their passkeys exist before the release's first announce (the page makes them).
    member.get("/account/passkey/")
    outsider.get("/account/passkey/")
    payload = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "vault.bin"
    source.write_bytes(payload)
    published = manage(
        start_process,
        instance_env,
        *("publish", str(source), "--product", "vault", "--version", "1.0", "--private", "--audience", "qa"),
        *("--wait", "--timeout", "90"),
    )
    release_path = re.search(r"http://\S+(/releases/\d+/)", published).group(1)

    assert outsider.status(release_path) == 404
    assert outsider.status(release_path + "torrent") == 404
    metainfo = member.get(release_path + "torrent")
    torrent = bencode.decode(metainfo)
    passkey = torrent[b"announce"].decode().rsplit("/", 1)[1]

    download_through_tracker(without_web_seeds(metainfo), tmp_path / "peers")
    assert (tmp_path / "peers" / "vault.bin").read_bytes() == payload
    # The personal web seed answers a client without cookies, Range included (while our
    # seeder serves the release it sends slowly, so a part of the file is enough here).
    web_seed = torrent[b"url-list"].decode()
    assert passkey in web_seed
    ranged = urllib.request.Request(web_seed + "vault.bin", headers={"Range": "bytes=1000-33767"})
    with urllib.request.urlopen(ranged, timeout=30) as answer:
        assert answer.status == 206 and answer.read() == payload[1000:33768]

    # A regenerated passkey: the old torrent gets nothing from the tracker or the web seed.
    member.post("/account/passkey/", {})
    info_hash = lt.torrent_info(metainfo).info_hashes().v1.to_bytes()
    announce_url = torrent[b"announce"].decode().rsplit("/", 1)[0]
    wait_until(
        lambda: tracker_answer(announce_url, passkey, info_hash) == {b"failure reason": REFUSED.encode()},
        timeout=10,
        what="the tracker to refuse the old passkey",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(web_seed + "vault.bin", timeout=10)
    assert refused.value.code == 404

    assert passkey not in "".join(run.output), "a passkey reached make run's logs"


def descendants(pid: int) -> list[int]:
    """``pid`` and every process it started, and they started, as /proc shows them now."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for child in children:
            found += descendants(int(child))
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.slow
def test_ctrl_c_stops_every_process_within_10_s_with_no_error_line(instance_env, start_process):
    run, _, _ = start_make_run(start_process, instance_env)
    processes = descendants(run.process.pid)
    # make, the supervisor, gunicorn and its 2 workers, Celery with its beat and pool, tracker, seeder
    assert len(processes) >= 9, [command_line(pid) for pid in processes]

    run.stop(signal.SIGINT, timeout=10)

    assert not [command_line(pid) for pid in processes if running(pid)]
    stopping = run.transcript().partition("stopping Fanout")[2]
    assert stopping, run.transcript()
    assert not re.search(r"ERROR|Error|Traceback|did not stop|killing", stopping), stopping


@pytest.mark.slow
def test_a_supervisor_killed_outright_leaves_no_process_behind(instance_env, start_process):
    run, _, _ = start_make_run(start_process, instance_env)
    processes = descendants(run.process.pid)
    (supervisor,) = [pid for pid in processes if "scripts/run_all.py" in command_line(pid)]

    os.kill(supervisor, signal.SIGKILL)

    wait_until(
        lambda: not any(running(pid) for pid in processes),
        timeout=10,
        what="every process of make run to exit after its supervisor was killed",
    )
