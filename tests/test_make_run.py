"""`make run` on embedded defaults: serves the catalogue, and a second run keeps what was published."""

import re
import signal
import urllib.request

import pytest

from harness.loopback import free_port
from harness.processes import MANAGE, ROOT
from tests.conftest import subprocess_env


@pytest.fixture
def instance_env(tmp_path):
    web_port = free_port()
    env = subprocess_env(
        FANOUT_DATA_DIR=str(tmp_path / "data"),
        WEB_PORT=str(web_port),
        TRACKER_PORT=str(free_port()),
        SEEDER_PORT=str(free_port()),
        FANOUT_TRACKER_WHITELIST_REFRESH="1",
    )
    # The embedded defaults: no database server, no Redis, the secret key kept in the data directory.
    for name in ("DATABASE_URL", "REDIS_URL", "FANOUT_PUBLIC_URL", "FANOUT_ANNOUNCE_URL", "SECRET_KEY"):
        env.pop(name, None)
    return env


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
