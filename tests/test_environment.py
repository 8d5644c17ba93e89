"""Settings helpers refuse malformed values instead of falling back."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.environment import READ_NAMES, env_bool, env_choice, env_int, env_list, env_networks


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
