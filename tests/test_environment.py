"""Settings helpers refuse malformed values instead of falling back."""

import json
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.environment import (
    READ_NAMES,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_networks,
    env_secret,
)
from harness.processes import ROOT
from tests.conftest import subprocess_env


def test_it_takes_defaults_for_unset_and_empty_variables(monkeypatch):
    monkeypatch.delenv("FANOUT_T_UNSET", raising=False)
    monkeypatch.setenv("FANOUT_T_EMPTY", "")

    assert env_int("FANOUT_T_UNSET", 7) == 7
    assert env_bool("FANOUT_T_EMPTY", True) is True
    assert {"FANOUT_T_UNSET", "FANOUT_T_EMPTY"} <= READ_NAMES


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (lambda: env_int("FANOUT_T", 1), "ten", "must be an integer"),
        (lambda: env_int("FANOUT_T", 1, minimum=1), "0", "at least 1"),
        (lambda: env_bool("FANOUT_T", False), "yes", "True or False"),
        (lambda: env_choice("FANOUT_T", "v1", ("v1", "v2")), "v3", "one of v1, v2"),
        (lambda: env_networks("FANOUT_T"), "10.0.0.0/8,bogus", "'bogus' is not an IP address"),
        (lambda: env_secret("FANOUT_T"), "", "FANOUT_T is set but empty"),
        (lambda: env_secret("FANOUT_T"), " \t", "FANOUT_T is set but empty"),
    ],
)
def test_it_refuses_malformed_values(monkeypatch, reader, value, message):
    monkeypatch.setenv("FANOUT_T", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader()


def test_it_reads_lists_and_networks(monkeypatch):
    monkeypatch.setenv("FANOUT_T", " a.example , b.example,, ")
    assert env_list("FANOUT_T", []) == ["a.example", "b.example"]
    monkeypatch.setenv("FANOUT_T", "10.0.0.0/8, ::1")
    assert env_networks("FANOUT_T") == ["10.0.0.0/8", "::1"]


def test_it_reads_secrets_and_tells_unset_from_empty(monkeypatch):
    monkeypatch.delenv("FANOUT_T", raising=False)
    assert env_secret("FANOUT_T") is None
    monkeypatch.setenv("FANOUT_T", "s3cret")
    assert env_secret("FANOUT_T") == "s3cret"


def test_the_settings_refuse_an_empty_secret_key(tmp_path):
    env = subprocess_env(
        SECRET_KEY="", FANOUT_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import config.settings"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is set but empty" in done.stderr


def test_it_reads_a_secret_from_the_file_its_file_variable_names(monkeypatch, tmp_path):
    secret = tmp_path / "client-secret"
    secret.write_text("s3cret\n")
    monkeypatch.delenv("FANOUT_T", raising=False)
    monkeypatch.setenv("FANOUT_T_FILE", str(secret))
    assert env_secret("FANOUT_T") == "s3cret"
    assert {"FANOUT_T", "FANOUT_T_FILE"} <= READ_NAMES
    monkeypatch.delenv("FANOUT_T_FILE")
    assert env_secret("FANOUT_T") is None


def test_it_refuses_a_secret_given_both_ways(monkeypatch, tmp_path):
    (tmp_path / "secret").write_text("one")
    monkeypatch.setenv("FANOUT_T", "other")
    monkeypatch.setenv("FANOUT_T_FILE", str(tmp_path / "secret"))
    with pytest.raises(ImproperlyConfigured, match="FANOUT_T and FANOUT_T_FILE are both set"):
        env_secret("FANOUT_T")


def test_it_refuses_a_secret_file_it_cannot_read_or_that_holds_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv("FANOUT_T", raising=False)
    monkeypatch.setenv("FANOUT_T_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="FANOUT_T_FILE: cannot read .*missing: No such file"):
        env_secret("FANOUT_T")
    (tmp_path / "blank").write_text(" \n")
    monkeypatch.setenv("FANOUT_T_FILE", str(tmp_path / "blank"))
    with pytest.raises(ImproperlyConfigured, match="FANOUT_T_FILE: .*blank is empty"):
        env_secret("FANOUT_T")


def sign_in_settings(tmp_path, **variables: str) -> dict:
    env = subprocess_env(FANOUT_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings", **variables)
    code = (
        "import json, config.settings as s; print(json.dumps({'backends': s.AUTHENTICATION_BACKENDS, "
        "'secret': s.OIDC_RP_CLIENT_SECRET, 'reset': s.PASSWORD_RESET_BY_EMAIL}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_single_sign_on_adds_the_providers_backend_and_sso_only_takes_away_passwords(tmp_path):
    secret = tmp_path / "oidc-secret"
    secret.write_text("from-the-provider\n")
    axes = "axes.backends.AxesStandaloneBackend"
    passwords, provider = "django.contrib.auth.backends.ModelBackend", "distribution.oidc.ProviderBackend"
    assert sign_in_settings(tmp_path)["backends"] == [axes, passwords]
    sso = {
        "FANOUT_OIDC_ISSUER": "https://id.example.com/realms/acme",
        "FANOUT_OIDC_CLIENT_ID": "fanout",
        "FANOUT_OIDC_CLIENT_SECRET_FILE": str(secret),
        "EMAIL_HOST": "mail.example.com",
    }
    assert sign_in_settings(tmp_path, **sso) == {
        "backends": [axes, passwords, provider],
        "secret": "from-the-provider",
        "reset": True,
    }
    assert sign_in_settings(tmp_path, **sso, FANOUT_OIDC_ONLY="True") == {
        "backends": [axes, provider],
        "secret": "from-the-provider",
        "reset": False,
    }


def test_the_settings_refuse_an_issuer_that_is_not_a_url(tmp_path):
    env = subprocess_env(
        FANOUT_OIDC_ISSUER="id.example.com",
        FANOUT_DATA_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    done = subprocess.run(
        [sys.executable, "-c", "import config.settings"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "FANOUT_OIDC_ISSUER must be an http(s) URL, got 'id.example.com'" in done.stderr
