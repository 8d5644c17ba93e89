"""Seeder nodes' credentials: issued by the node itself, stored hashed, revoked in the admin."""

import hashlib

import pytest
from django.urls import reverse

from distribution.access import issue_node_credential
from distribution.models import NodeCredential
from tracker.selectors import load_whitelist

pytestmark = pytest.mark.django_db


def digest(credential: str) -> bytes:
    return hashlib.sha256(credential.encode()).digest()


def test_it_stores_only_the_hash_and_the_whitelist_carries_it():
    credential = issue_node_credential("origin-1")
    row = NodeCredential.objects.get(node_name="origin-1")
    assert len(credential) == 64 and credential not in str(row.__dict__)
    assert row.credential_sha256 == digest(credential).hex()
    assert load_whitelist().node_credentials.keys() == {digest(credential)}
    assert credential.encode() not in load_whitelist().passkeys


def test_issuing_again_rotates_the_credential():
    first = issue_node_credential("origin-1")
    second = issue_node_credential("origin-1")
    assert first != second
    assert load_whitelist().node_credentials.keys() == {digest(second)}


def test_a_revoked_node_is_refused_and_issues_nothing_until_allowed_again():
    issue_node_credential("origin-1")
    other = issue_node_credential("origin-2")
    row = NodeCredential.objects.get(node_name="origin-1")
    assert row.revoke() and not row.revoke()
    assert load_whitelist().node_credentials.keys() == {digest(other)}
    assert issue_node_credential("origin-1") is None
    assert load_whitelist().node_credentials.keys() == {digest(other)}

    assert row.allow_again() and not row.allow_again()
    again = issue_node_credential("origin-1")
    assert again is not None
    assert load_whitelist().node_credentials.keys() == {digest(other), digest(again)}


def test_the_admin_lists_credentials_without_the_secret_and_revokes_them(client, admin_user):
    credential = issue_node_credential("origin-1")
    client.force_login(admin_user)
    url = reverse("admin:distribution_nodecredential_changelist")

    listing = client.get(url).content.decode()
    assert "origin-1" in listing
    assert credential not in listing and digest(credential).hex() not in listing
    row = NodeCredential.objects.get()
    detail = client.get(reverse("admin:distribution_nodecredential_change", args=[row.pk])).content.decode()
    assert credential not in detail and digest(credential).hex() not in detail

    response = client.post(url, {"action": "revoke", "_selected_action": [row.pk]}, follow=True)
    assert "1 of 1 selected credentials revoked" in response.content.decode()
    assert NodeCredential.objects.get().is_revoked
    assert load_whitelist().node_credentials.keys() == set()

    client.post(url, {"action": "allow_again", "_selected_action": [row.pk]})
    assert not NodeCredential.objects.get().is_revoked


def test_the_admin_offers_no_add_or_delete(client, admin_user):
    issue_node_credential("origin-1")
    client.force_login(admin_user)
    assert client.get(reverse("admin:distribution_nodecredential_add")).status_code == 403
    row = NodeCredential.objects.get()
    assert client.get(reverse("admin:distribution_nodecredential_delete", args=[row.pk])).status_code == 403


def test_only_staff_see_credentials_in_the_admin(client, outsider):
    issue_node_credential("origin-1")
    client.force_login(outsider)
    response = client.get(reverse("admin:distribution_nodecredential_changelist"))
    assert response.status_code == 302 and "login" in response["Location"]
