"""The data directory: importing the settings makes nothing; `make run` and Celery make what they use."""

import stat
import subprocess
import sys
from pathlib import Path

from config.data_dir import prepare_data_dir
from harness.processes import MANAGE, ROOT
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
