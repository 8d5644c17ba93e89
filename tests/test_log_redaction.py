"""Passkeys never reach a log in clear: Django's loggers, gunicorn's, nginx's (config/log_redaction.py)."""

import hashlib
import io
import logging
import urllib.error
import urllib.request
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from gunicorn.config import Config

from config.log_redaction import RedactCredentials, redact_credentials
from distribution.models import Passkey
from harness.loopback import free_port
from harness.web_front import NGINX, start_nginx
from scripts.run_all import commands
from tests.conftest import database_url_for_subprocess, subprocess_env
from tests.factories import UserFactory

KEY = "0123456789abcdef0123456789abcdef"
DIGEST = hashlib.sha256(KEY.encode()).hexdigest()[:8]


@pytest.mark.parametrize(
    ("logged", "written"),
    [
        (
            f"GET /announce/{KEY}?info_hash=%AB HTTP/1.1",
            f"GET /announce/<passkey:{DIGEST}>?info_hash=%AB HTTP/1.1",
        ),
        (f"/scrape/{KEY}", f"/scrape/<passkey:{DIGEST}>"),
        (f"GET /admitted/{KEY} HTTP/1.1", f"GET /admitted/<passkey:{DIGEST}> HTTP/1.1"),
        (
            f"Not Found: /releases/7/webseed/{KEY}/atlas/a.bin",
            f"Not Found: /releases/7/webseed/<passkey:{DIGEST}>/atlas/a.bin",
        ),
        (
            f"cannot scrape http://t:6969/scrape/{KEY}: timed out",
            f"cannot scrape http://t:6969/scrape/<passkey:{DIGEST}>: timed out",
        ),
        (f"next=%2Freleases%2F7%2Fwebseed%2F{KEY}", f"next=%2Freleases%2F7%2Fwebseed%2F<passkey:{DIGEST}>"),
        ("GET /releases/7/files/atlas/a.bin HTTP/1.1", "GET /releases/7/files/atlas/a.bin HTTP/1.1"),
        ("GET /announce?info_hash=%AB HTTP/1.1", "GET /announce?info_hash=%AB HTTP/1.1"),
    ],
)
def test_it_replaces_the_key_of_each_credential_path_by_a_digest_prefix(logged, written):
    assert redact_credentials(logged) == written


@pytest.fixture
def gunicorn_logger(tmp_path):
    """The logger class as gunicorn loads it from ``--logger-class``, logging to files."""
    cfg = Config()
    cfg.set("logger_class", "config.gunicorn_logging.RedactingLogger")
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("errorlog", str(tmp_path / "error.log"))
    logger = cfg.logger_class(cfg)
    yield logger
    for log in (logger.error_log, logger.access_log):
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


def test_gunicorns_access_and_error_logs_carry_no_passkey(gunicorn_logger, tmp_path):
    uri = f"/releases/7/webseed/{KEY}/atlas/a.bin"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": uri,
        "PATH_INFO": uri,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.1",
    }
    response = SimpleNamespace(status="206 Partial Content", headers=[], sent=1024)
    request = SimpleNamespace(headers=[("USER-AGENT", "libtorrent/2.1.1")])

    gunicorn_logger.access(response, request, environ, timedelta(milliseconds=3))
    gunicorn_logger.exception("Error handling request %s", uri)

    access_line = (tmp_path / "access.log").read_text()
    assert f'"GET /releases/7/webseed/<passkey:{DIGEST}>/atlas/a.bin HTTP/1.1" 206 1024' in access_line
    assert (
        f"Error handling request /releases/7/webseed/<passkey:{DIGEST}>/"
        in (tmp_path / "error.log").read_text()
    )
    assert KEY not in access_line + (tmp_path / "error.log").read_text()


@pytest.fixture
def configured_log_output():
    """What the handler of settings.LOGGING writes, while the test runs."""
    handler = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, RedactCredentials) for f in h.filters)
    )
    output = io.StringIO()
    previous = handler.setStream(output)
    yield output
    handler.setStream(previous)


def test_djangos_loggers_write_a_web_seeds_404_without_its_passkey(configured_log_output, db):
    key = Passkey.for_user(UserFactory()).key

    response = Client().get(reverse("release-personal-webseed", args=[404, key, "atlas/a.bin"]))

    assert response.status_code == 404
    written = configured_log_output.getvalue()
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    assert (
        f"WARNING django.request: Not Found: /releases/404/webseed/<passkey:{digest}>/atlas/a.bin" in written
    )
    assert key not in written
    # Django's own handlers, which would write past the filter, are gone.
    assert logging.getLogger("django").handlers == [] and logging.getLogger("django.server").handlers == []


def test_a_traceback_is_written_without_the_passkeys_in_it(configured_log_output):
    try:
        raise ValueError(f"bad request line: GET /announce/{KEY} HTTP/1.1")
    except ValueError:
        logging.getLogger("tracker.http_server").exception("tracker request from %s failed", "10.0.0.1")

    written = configured_log_output.getvalue()
    assert f"ValueError: bad request line: GET /announce/<passkey:{DIGEST}> HTTP/1.1" in written
    assert KEY not in written


def get(url: str) -> int | None:
    """The status of a GET; None while nothing listens."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except urllib.error.URLError:
        return None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_web_process_as_make_run_starts_it_logs_no_passkey(start_process, tmp_path, monkeypatch):
    key = Passkey.for_user(UserFactory()).key
    port = free_port()
    monkeypatch.setenv("WEB_PORT", str(port))
    web = start_process(
        "web",
        commands()["web"],
        subprocess_env(
            WEB_PORT=str(port),
            DATABASE_URL=database_url_for_subprocess(connection.settings_dict),
            FANOUT_DATA_DIR=str(tmp_path),
        ),
    )
    web.wait_for_port(port)

    assert get(f"http://127.0.0.1:{port}/releases/404/webseed/{key}/atlas/a.bin") == 404
    assert get(f"http://127.0.0.1:{port}/scrape/{key}") == 200

    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    web.wait_for(rf'"GET /scrape/<passkey:{digest}> HTTP/1.1" 200')
    web.wait_for(rf"Not Found: /releases/404/webseed/<passkey:{digest}>/atlas/a.bin")
    web.wait_for(rf'"GET /releases/404/webseed/<passkey:{digest}>/atlas/a.bin HTTP/1.1" 404')
    assert key not in web.transcript()


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx-light)")
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_nginx_as_deployed_logs_no_passkey(live_server, tmp_path, settings):
    port = free_port()
    nginx = start_nginx(
        listen_port=port,
        upstream=live_server.url.removeprefix("http://"),
        data_dir=settings.RELEASES_DIR,
        workdir=tmp_path / "nginx",
    )
    access_log = tmp_path / "nginx" / "access.log"
    try:
        assert get(f"http://127.0.0.1:{port}/releases/404/webseed/{KEY}/atlas/a.bin") == 404
        assert get(f"http://127.0.0.1:{port}/scrape/{KEY}") == 200
    finally:
        nginx.stop()

    written = access_log.read_text()
    assert '"GET /releases/404/webseed/<passkey>/atlas/a.bin HTTP/1.1" 404' in written
    assert '"GET /scrape/<passkey> HTTP/1.1" 200' in written
    assert KEY not in written
