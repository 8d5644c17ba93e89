"""The data directory: importing the settings makes nothing; `make run` and Celery make what they use."""

import grp
import os
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.data_dir import prepare_data_dir, share_data_dir
from harness.loopback import free_port
from harness.polling import wait_until
from harness.processes import CELERY, MANAGE, ROOT
from tests.conftest import subprocess_env


def run(argv: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    """Run ``argv`` on embedded defaults, without SECRET_KEY, with ``data_dir`` as FANOUT_DATA_DIR."""
    env = subprocess_env(FANOUT_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings")
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def python(code: str, data_dir: Path) -> subprocess.CompletedProcess:
    return run([sys.executable, "-c", code], data_dir)


def test_importing_and_setting_up_django_makes_nothing_on_disk(tmp_path):
    done = python("import config.settings, django; django.setup()", tmp_path / "fresh")
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_celery_makes_the_broker_folders_when_its_configuration_is_first_read(tmp_path):
    done = python(
        "import django; django.setup(); from config import celery_app; celery_app.conf.broker_url", tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert {path.name for path in (tmp_path / "celery-broker").iterdir()} == {"queue", "processed", "control"}


PREPARE = "from config.data_dir import prepare_data_dir; prepare_data_dir()"


def test_it_keeps_one_secret_key_per_data_directory(tmp_path):
    data_dir = tmp_path / "data"
    assert python(PREPARE, data_dir).returncode == 0
    key_file = data_dir / "secret_key"
    key = key_file.read_text()
    assert len(key) >= 50 and stat.S_IMODE(key_file.stat().st_mode) == 0o600

    assert python(PREPARE, data_dir).returncode == 0
    read = python("from django.conf import settings; print(settings.SECRET_KEY)", data_dir)
    assert key_file.read_text() == key and read.stdout.strip() == key
    assert sorted(path.name for path in data_dir.iterdir()) == ["secret_key", "staticfiles"]


def test_it_keeps_no_key_when_secret_key_is_set(settings, tmp_path):
    settings.DATA_DIR, settings.STATIC_ROOT, settings.SECRET_KEY_FILE = tmp_path, tmp_path / "static", None
    prepare_data_dir()
    assert [path.name for path in tmp_path.iterdir()] == ["static"]


def test_without_a_key_the_commands_say_how_to_get_one(tmp_path):
    done = run([*MANAGE, "check"], tmp_path)
    assert done.returncode != 0
    assert f"fanout.E005) SECRET_KEY is unset and there is no key in {tmp_path / 'secret_key'}" in done.stderr
    assert "make run" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_nothing_fanout_writes_in_the_data_directory_is_for_other_users(tmp_path, start_process):
    data_dir = tmp_path / "data"
    source = tmp_path / "source" / "tool"
    (source / "docs").mkdir(parents=True)
    (source / "tool.bin").write_bytes(os.urandom(300_000))
    (source / "docs" / "readme.txt").write_text("read me\n")
    # Another group than this user's own: the web server's, in a deployment.
    group = next(g for g in grp.getgrall() if g.gr_gid != os.getgid())
    env = subprocess_env(FANOUT_DATA_DIR=str(data_dir), FANOUT_DATA_GROUP=group.gr_name)
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)

    def succeed(*argv: str) -> None:
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    def count(query: str) -> int:
        with closing(sqlite3.connect(data_dir / "fanout.sqlite3")) as database:
            return database.execute(query).fetchone()[0]

    # As `make run` starts: the data directory, the database, then a release published, built, seeded.
    succeed(sys.executable, "-c", PREPARE)
    succeed(*MANAGE, "migrate", "--no-input")
    worker = start_process("worker", [*CELERY, "worker", "--pool", "solo"], env)
    seeder = start_process("seeder", [*MANAGE, "runseeder", "--name", "n1", "--port", str(free_port())], env)
    succeed(*MANAGE, "publish", str(source), "--product", "tool", "--version", "1.0")
    wait_until(
        lambda: count("SELECT count(*) FROM distribution_release WHERE status = 'published'") == 1,
        timeout=60,
        what="the worker to build the release",
    )
    wait_until(
        lambda: count("SELECT count(*) FROM seeder_seeding") == 1, timeout=30, what="the seeder to hold it"
    )
    assert seeder.stop() == 0 and worker.stop() == 0

    written = [data_dir, *data_dir.rglob("*")]
    names = {path.relative_to(data_dir).as_posix() for path in written}
    assert {"fanout.sqlite3", "releases", "seeder/n1/lock", "celery-broker/queue"} <= names
    assert any(name.endswith(".resume") for name in names)
    assert any(name.endswith("/tool-1.0/docs/readme.txt") for name in names)
    for path in written:
        info = path.lstat()
        assert not info.st_mode & 0o007, f"{path} is {stat.filemode(info.st_mode)}"
        assert info.st_gid == group.gr_gid, f"{path} belongs to group {info.st_gid}"
        if path.is_dir():
            assert info.st_mode & stat.S_ISGID and info.st_mode & 0o050 == 0o050, path
        elif path.name != "secret_key":
            assert info.st_mode & 0o040, f"{path} is {stat.filemode(info.st_mode)}"


def test_it_takes_from_an_older_data_directory_what_others_could_read(settings, tmp_path):
    settings.DATA_DIR, settings.FANOUT_DATA_GROUP = tmp_path / "old", None
    release_file = settings.DATA_DIR / "releases" / "1" / "a.bin"
    release_file.parent.mkdir(parents=True, mode=0o755)
    release_file.write_bytes(b"x")
    for path in (settings.DATA_DIR, release_file.parent.parent, release_file.parent):
        path.chmod(0o755)
    release_file.chmod(0o666)

    share_data_dir()

    assert [stat.S_IMODE(p.stat().st_mode) for p in (settings.DATA_DIR, release_file)] == [0o750, 0o660]
    assert stat.S_IMODE(release_file.parent.stat().st_mode) == 0o750


def test_it_refuses_a_data_group_that_does_not_exist(settings, tmp_path):
    settings.DATA_DIR, settings.FANOUT_DATA_GROUP = tmp_path, "no-such-group-here"

    with pytest.raises(ImproperlyConfigured, match="FANOUT_DATA_GROUP: no group named 'no-such-group-here'"):
        share_data_dir()
