"""The admin names every model as a person would: "Release day stats", never "Release day statss"."""

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

EXPECTED = {
    "Product": ("product", "products"),
    "Release": ("release", "releases"),
    "Tag": ("tag", "tags"),
    "Torrent": ("torrent", "torrents"),
    "ReleaseDayStats": ("release day stats", "release day stats"),
    "SwarmSample": ("swarm sample", "swarm samples"),
    "Passkey": ("passkey", "passkeys"),
    "NodeCredential": ("seeder node credential", "seeder node credentials"),
    "ApiToken": ("API token", "API tokens"),
}


def test_every_distribution_model_in_the_admin_has_its_name():
    names = {
        model.__name__: (str(model._meta.verbose_name), str(model._meta.verbose_name_plural))
        for model in admin.site._registry
        if model._meta.app_label == "distribution"
    }

    assert {name: names[name] for name in EXPECTED} == EXPECTED


def test_no_model_in_the_admin_doubles_its_plural_s():
    for model in admin.site._registry:
        singular, plural = str(model._meta.verbose_name), str(model._meta.verbose_name_plural)
        assert not (singular.endswith("s") and plural == singular + "s"), model


def test_the_admin_index_reads_right(client, admin_user):
    client.force_login(admin_user)

    page = client.get(reverse("admin:index")).content.decode()

    assert "Release day stats" in page and "statss" not in page and "API tokens" in page
