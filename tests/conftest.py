"""Fixtures shared by the suite: fixed users of each role and an isolated data directory.

The test run's data directory is prepared as `make run` prepares its own, and
a Redis keeps no swarm from one test to the next.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.db import connection

from config.data_dir import prepare_data_dir
from distribution.access import PUBLISHERS_GROUP
from distribution.models import ProductRole
from harness.processes import RunningProcess
from tests.factories import ProductFactory, UserFactory
from tracker.statistics_flush import configured_swarm_store

PASSWORD = "correct horse battery staple"


def pytest_configure(config: pytest.Config) -> None:
    prepare_data_dir()
    if django_settings.SECRET_KEY_FILE is not None:
        # The settings were read before the key was kept; the processes the tests
        # start, in this data directory or another, take it from the environment.
        django_settings.SECRET_KEY = os.environ["SECRET_KEY"] = (
            django_settings.SECRET_KEY_FILE.read_text().strip()
        )


@pytest.fixture(autouse=True)
def no_swarm_outlives_its_test(settings):
    """With REDIS_URL the trackers (the web's too) keep their swarms in Redis, under the database's
    name, and SQLite gives the next test's releases the same ids: empty them after each test."""
    yield
    database = connection.settings_dict
    if not settings.REDIS_URL or connection.vendor != "sqlite":
        return
    if database["NAME"] != database["TEST"].get("NAME"):
        return  # not the test database yet: those swarms are an instance's, not ours
    store = configured_swarm_store()
    try:
        keys = list(store.client.scan_iter(match=store.prefix + "*", count=1000))
        if keys:
            store.client.delete(*keys)
    finally:
        store.client.close()


@pytest.fixture(autouse=True)
def releases_dir(settings, tmp_path) -> Path:
    """Each test stores release files in its own directory."""
    settings.RELEASES_DIR = tmp_path / "releases"
    return settings.RELEASES_DIR


@pytest.fixture
def publisher(db):
    user = UserFactory(username="publisher")
    user.groups.add(Group.objects.get(name=PUBLISHERS_GROUP))
    return user


@pytest.fixture
def other_publisher(db):
    """A publisher of another product than ``product``."""
    user = UserFactory(username="other-publisher")
    user.groups.add(Group.objects.get(name=PUBLISHERS_GROUP))
    ProductFactory(name="Borealis", slug="borealis").publishers.add(user)
    return user


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def product(publisher):
    """Atlas, maintained by ``publisher``: they publish to it and manage every one of its releases."""
    product = ProductFactory(name="Atlas", slug="atlas")
    product.publishers.add(publisher, through_defaults={"role": ProductRole.Role.MAINTAINER})
    return product


def database_url_for_subprocess(settings_dict: dict) -> str:
    """The URL of the database this test runs on, for processes the test starts."""
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


def subprocess_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env


@pytest.fixture
def start_process():
    """Start a real process; at the end of the test stop it and show its output."""
    started: list[RunningProcess] = []

    def start(name: str, argv: list[str], env: dict[str, str]) -> RunningProcess:
        process = RunningProcess(name, argv, env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
        print(f"--- output of {process.name} ---\n{process.transcript()}")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """Give this test run a database of its own, so that runs at the same time never share one."""
    from django.conf import settings

    for alias in settings.DATABASES.values():
        test = alias.setdefault("TEST", {})
        if alias["ENGINE"] == "django.db.backends.sqlite3":
            test["NAME"] = str(Path(test["NAME"]).with_name(f"test-{os.getpid()}.sqlite3"))
        else:
            test["NAME"] = f"{test.get('NAME') or 'test_' + alias['NAME']}_{os.getpid()}"
            # A statement of this process (a test's flush included) that waits on a lock for
            # minutes fails, naming the lock, instead of holding up the whole run.
            options = alias.setdefault("OPTIONS", {})
            options["options"] = f"{options.get('options', '')} -c lock_timeout=120s".strip()
