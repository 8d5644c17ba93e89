"""System checks of the settings that depend on each other (config/checks.py), and Django's
deployment checks with the documented production environment (.env.example, docker-compose.yml)."""

import os
import re
import subprocess
import sys

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from distribution.tasks import build_torrent
from harness.processes import ROOT
from tests.test_deployment import production_environment

# What HTTPS behind the front needs, in the order the settings test reads them.
HTTPS_SETTINGS = (
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
)


def fanout_errors() -> dict[str, str]:
    return {message.id: message.msg for message in run_checks() if message.id.startswith("fanout.")}


def test_the_defaults_pass():
    assert fanout_errors() == {}


@pytest.mark.parametrize(
    ("interval", "peer_ttl"),
    [(1800, 1800), (1800, 2099), (3600, 3899), (60, 300)],
)
def test_a_peer_ttl_not_longer_than_the_interval_and_a_late_announce_is_an_error(interval, peer_ttl):
    with override_settings(FANOUT_ANNOUNCE_INTERVAL=interval, FANOUT_PEER_TTL=peer_ttl):
        assert fanout_errors() == {
            "fanout.E001": f"FANOUT_PEER_TTL ({peer_ttl} s) is shorter than FANOUT_ANNOUNCE_INTERVAL "
            f"({interval} s) plus 300 s for a late announce: peers drop out of their swarms between two "
            "announces."
        }


def test_a_peer_ttl_with_room_for_a_late_announce_passes():
    with override_settings(FANOUT_ANNOUNCE_INTERVAL=600, FANOUT_PEER_TTL=900):
        assert fanout_errors() == {}


def test_a_min_interval_longer_than_the_interval_is_an_error():
    with override_settings(
        FANOUT_ANNOUNCE_INTERVAL=600, FANOUT_PEER_TTL=1500, FANOUT_ANNOUNCE_MIN_INTERVAL=601
    ):
        assert fanout_errors().keys() == {"fanout.E002"}
    with override_settings(
        FANOUT_ANNOUNCE_INTERVAL=600, FANOUT_PEER_TTL=1500, FANOUT_ANNOUNCE_MIN_INTERVAL=600
    ):
        assert fanout_errors() == {}


@pytest.mark.parametrize(
    "transport_options",
    [{"visibility_timeout": 3 * 3600 + 60}, {"visibility_timeout": 3600}, {}],
    ids=["the-build-limit", "shorter", "kombu-default"],
)
def test_a_redis_visibility_timeout_not_longer_than_a_build_is_an_error(transport_options):
    # Read first: this configures Celery from the real settings, not from the overridden ones.
    limit = build_torrent.time_limit
    with override_settings(
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0", CELERY_BROKER_TRANSPORT_OPTIONS=transport_options
    ):
        errors = fanout_errors()
    assert errors.keys() == {"fanout.E003"}
    assert f"time limit ({limit} s, distribution.tasks.build_torrent)" in errors["fanout.E003"]


def test_a_visibility_timeout_longer_than_a_build_passes():
    limit = build_torrent.time_limit
    with override_settings(
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        CELERY_BROKER_TRANSPORT_OPTIONS={"visibility_timeout": limit + 1},
    ):
        assert fanout_errors() == {}


@pytest.mark.parametrize(
    ("public_url", "allowed_hosts"),
    [
        ("https://fanout.example.com", ["localhost"]),
        ("http://[::1]:8000", ["localhost", "127.0.0.1"]),
        ("http://files.example.com", [".example.org"]),
    ],
)
def test_a_public_url_whose_host_is_not_allowed_is_an_error(public_url, allowed_hosts):
    with override_settings(FANOUT_PUBLIC_URL=public_url, ALLOWED_HOSTS=allowed_hosts):
        assert fanout_errors().keys() == {"fanout.E004"}


@pytest.mark.parametrize(
    ("public_url", "allowed_hosts"),
    [
        ("https://fanout.example.com", ["fanout.example.com"]),
        ("http://[::1]:8000", ["[::1]"]),
        ("http://files.example.com", [".example.com"]),
        ("http://anything.example", ["*"]),
    ],
)
def test_a_public_url_whose_host_is_allowed_passes(public_url, allowed_hosts):
    with override_settings(FANOUT_PUBLIC_URL=public_url, ALLOWED_HOSTS=allowed_hosts):
        assert fanout_errors() == {}


def test_no_secret_key_is_an_error(tmp_path):
    with override_settings(SECRET_KEY="", SECRET_KEY_FILE=tmp_path / "secret_key"):
        assert fanout_errors() == {
            "fanout.E005": f"SECRET_KEY is unset and there is no key in {tmp_path / 'secret_key'}."
        }


def test_sso_only_without_a_provider_is_an_error():
    with override_settings(FANOUT_OIDC_ONLY=True, FANOUT_OIDC_ISSUER=None):
        assert fanout_errors().keys() == {"fanout.E006"}
    with override_settings(
        FANOUT_OIDC_ONLY=True,
        FANOUT_OIDC_ISSUER="https://id.example.com",
        OIDC_RP_CLIENT_ID="fanout",
        OIDC_RP_CLIENT_SECRET="s3cret",
    ):
        assert fanout_errors() == {}


@pytest.mark.parametrize(
    ("client_id", "secret", "missing"),
    [
        ("", "s3cret", "FANOUT_OIDC_CLIENT_ID"),
        ("fanout", "", "FANOUT_OIDC_CLIENT_SECRET_FILE"),
        ("", "", "FANOUT_OIDC_CLIENT_ID and FANOUT_OIDC_CLIENT_SECRET_FILE"),
    ],
)
def test_a_provider_without_its_client_is_an_error(client_id, secret, missing):
    with override_settings(
        FANOUT_OIDC_ISSUER="https://id.example.com", OIDC_RP_CLIENT_ID=client_id, OIDC_RP_CLIENT_SECRET=secret
    ):
        assert fanout_errors() == {
            "fanout.E007": f"FANOUT_OIDC_ISSUER is set but {missing} not: the provider refuses a sign-in "
            "from an unknown client."
        }


def check_deploy(environment: dict[str, str]) -> subprocess.CompletedProcess:
    """`manage.py check --deploy` in a process that has this environment and no other setting."""
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
    )


def test_the_documented_production_environment_passes_the_deployment_checks(tmp_path):
    done = check_deploy(production_environment(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


def test_without_the_https_settings_the_deployment_checks_warn(tmp_path):
    environment = production_environment(tmp_path)
    for name in HTTPS_SETTINGS:
        del environment[name]
    done = check_deploy(environment)
    assert done.returncode != 0
    warned = set(re.findall(r"\(security\.(W\d+)\)", done.stderr))
    assert warned == {"W004", "W008", "W012", "W016"}, done.stderr


def run_settings(tmp_path, code: str, **variables: str) -> subprocess.CompletedProcess:
    """``code`` run after the settings are read from these variables alone (a secret key besides)."""
    environment = {"PATH": os.environ["PATH"], "FANOUT_DATA_DIR": str(tmp_path), "SECRET_KEY": "x" * 50}
    return subprocess.run(
        [sys.executable, "-c", f"import config.settings as s; {code}"],
        cwd=ROOT,
        env={**environment, **variables},
        capture_output=True,
        text=True,
    )


def test_make_run_serves_plain_http_with_the_https_settings_unset(tmp_path):
    done = run_settings(tmp_path, f"print([getattr(s, name) for name in {HTTPS_SETTINGS!r}])")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[None, False, False, False, 0, False, False]"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"}, "SECURE_PROXY_SSL_HEADER must be a header"),
        ({"CSRF_TRUSTED_ORIGINS": "fanout.example.com"}, "'fanout.example.com' is not an origin"),
        ({"SECURE_HSTS_SECONDS": "a year"}, "SECURE_HSTS_SECONDS must be an integer"),
        (
            {"DATABASE_URL": "postgres://fanout:pw@db/fanout", "DATABASE_PASSWORD": "pw"},
            "DATABASE_URL has a password and DATABASE_PASSWORD is set",
        ),
    ],
)
def test_the_settings_refuse_malformed_https_and_database_settings(tmp_path, variables, message):
    done = run_settings(tmp_path, "", **variables)
    assert done.returncode != 0 and message in done.stderr


def test_the_database_password_comes_from_its_own_secret_file(tmp_path):
    (tmp_path / "postgres_password").write_text("from-the-secret\n")
    done = run_settings(
        tmp_path,
        "print(s.DATABASES['default']['PASSWORD'])",
        DATABASE_URL="postgres://fanout@postgres:5432/fanout",
        DATABASE_PASSWORD_FILE=str(tmp_path / "postgres_password"),
    )
    assert done.stdout.strip() == "from-the-secret", done.stderr
