"""System checks of the settings that depend on each other (config/checks.py)."""

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from distribution.tasks import build_torrent


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
