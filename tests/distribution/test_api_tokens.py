"""API tokens: made once and kept hashed, acting as their user without session or CSRF, revoked at once."""

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from distribution.api_tokens import authenticate_api_token, issue_api_token
from distribution.models import ApiToken
from tests.factories import UserFactory
from tests.tracker.conftest import publish_release

pytestmark = pytest.mark.django_db


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_token_is_shown_once_and_kept_as_its_hash():
    user = UserFactory()
    row, token = issue_api_token(user, name="ci", scope=ApiToken.Scope.PUBLISH)
    assert token.startswith("fo_") and len(token) > 40
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ApiToken.objects.filter(pk=row.pk).values().get())
    assert token.startswith(row.prefix)
    assert authenticate_api_token(token) == row
    assert authenticate_api_token(token + "x") is None


def test_it_records_the_last_use_at_most_once_a_minute():
    row, token = issue_api_token(UserFactory(), name="ci", scope=ApiToken.Scope.READ)
    assert row.last_used_at is None
    first = authenticate_api_token(token).last_used_at
    assert first is not None
    assert authenticate_api_token(token).last_used_at == first
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=first - timedelta(minutes=2))
    assert authenticate_api_token(token).last_used_at > first - timedelta(minutes=1)


def test_a_token_sees_what_its_user_sees(client):
    member = UserFactory()
    release = publish_release("1.0", v1=b"\x11" * 20)
    release.visibility = "private"
    release.save()
    _, token = issue_api_token(member, name="fleet", scope=ApiToken.Scope.READ)
    path = reverse("api-release-detail", args=[release.pk])
    assert client.get(path).status_code == 404
    assert client.get(path, **bearer(token)).status_code == 200
    assert client.get(reverse("release-detail", args=[release.pk]), **bearer(token)).status_code == 200


def test_a_request_with_a_token_is_never_signed_in_by_its_session_cookie(client):
    client.force_login(UserFactory(is_staff=True))
    assert client.get(reverse("account-tokens")).status_code == 200
    assert client.get(reverse("account-tokens"), **bearer("fo_not-a-token")).status_code == 302


def test_a_revoked_token_or_an_inactive_users_stops_at_once(client):
    user = UserFactory()
    row, token = issue_api_token(user, name="ci", scope=ApiToken.Scope.READ)
    path = reverse("api-release-list")
    assert client.get(path, **bearer(token)).status_code == 200
    assert row.revoke() and not row.revoke()
    answer = client.get(path, **bearer(token))
    assert answer.status_code == 401
    assert answer.json() == {"detail": "The API token is unknown or revoked."}
    assert answer["WWW-Authenticate"].startswith("Bearer")
    _, other = issue_api_token(user, name="again", scope=ApiToken.Scope.READ)
    user.is_active = False
    user.save()
    assert client.get(path, **bearer(other)).status_code == 401


def test_a_read_token_changes_nothing_anywhere(client):
    _, token = issue_api_token(UserFactory(is_staff=True), name="ro", scope=ApiToken.Scope.READ)
    for path in (reverse("tus-create"), reverse("account-tokens"), "/publish/start"):
        answer = client.post(path, {}, **bearer(token))
        assert answer.status_code == 403, path
        assert "publish scope" in answer.json()["detail"]


def test_a_publish_token_needs_no_csrf_and_a_bad_one_gets_401_from_tus():
    from django.test import Client

    csrf_checking = Client(enforce_csrf_checks=True)
    user = UserFactory(is_staff=True)
    _, token = issue_api_token(user, name="ci", scope=ApiToken.Scope.PUBLISH)
    # Past authentication and CSRF: the form's own complaint about the missing fields.
    answer = csrf_checking.post("/publish/start", {}, **bearer(token))
    assert answer.status_code == 400
    tus = csrf_checking.post(reverse("tus-create"), HTTP_TUS_RESUMABLE="1.0.0", **bearer("fo_wrong"))
    assert tus.status_code == 401


def test_the_account_page_makes_lists_and_revokes_the_users_own_tokens(client):
    user, other = UserFactory(), UserFactory()
    _, others_token = issue_api_token(other, name="theirs", scope=ApiToken.Scope.READ)
    client.force_login(user)
    page = client.post(reverse("account-tokens"), {"name": "laptop", "scope": "read"})
    assert page.status_code == 200
    token = page.context["new_token"]
    assert token in page.content.decode()
    assert page["Cache-Control"].startswith("max-age=0") or "no-store" in page["Cache-Control"]
    again = client.get(reverse("account-tokens")).content.decode()
    assert "laptop" in again and token not in again and "theirs" not in again
    row = ApiToken.objects.get(name="laptop")
    assert client.post(reverse("account-token-revoke", args=[row.pk])).status_code == 302
    assert authenticate_api_token(token) is None
    theirs = ApiToken.objects.get(name="theirs")
    assert client.post(reverse("account-token-revoke", args=[theirs.pk])).status_code == 404
    assert authenticate_api_token(others_token) is not None


def test_the_command_prints_a_token_once_lists_and_revokes(client):
    user = UserFactory(username="ci-bot")
    out = io.StringIO()
    call_command("token", "create", "ci-bot", "--name", "pipeline", stdout=out)
    token = out.getvalue().strip()
    assert authenticate_api_token(token).user == user
    listing = io.StringIO()
    call_command("token", "list", "ci-bot", stdout=listing)
    row = ApiToken.objects.get(user=user)
    assert row.prefix in listing.getvalue() and token not in listing.getvalue()
    assert "publish" in listing.getvalue()
    call_command("token", "revoke", row.prefix, stdout=io.StringIO())
    assert authenticate_api_token(token) is None
    row.refresh_from_db()
    assert row.revoked_at <= timezone.now()


def test_staff_revoke_anyones_token_in_the_admin(client, admin_user):
    row, token = issue_api_token(UserFactory(), name="leaked", scope=ApiToken.Scope.PUBLISH)
    client.force_login(admin_user)
    listing = client.get(reverse("admin:distribution_apitoken_changelist")).content.decode()
    assert "leaked" in listing and token not in listing
    client.post(
        reverse("admin:distribution_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [row.pk]},
    )
    assert authenticate_api_token(token) is None
