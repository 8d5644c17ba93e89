"""Signing in: password guessing is throttled per account and per address, staff unlock it;
password reset exists only where mail can be sent."""

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 3


def sign_in(client: Client, username: str, password: str, address: str = "10.1.1.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_an_account_is_paused_after_too_many_wrong_passwords_even_for_the_right_one(client):
    UserFactory(username="mia")
    assert [sign_in(client, "mia", "guess").status_code for _ in range(3)] == [200, 200, 429]
    locked = sign_in(client, "mia", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address does not help: the account itself is paused.
    assert sign_in(Client(), "mia", PASSWORD, address="10.9.9.9").status_code == 429


def test_an_address_guessing_many_accounts_is_paused(client):
    UserFactory(username="olaf")
    for name in ("a", "b", "c"):
        sign_in(client, name, "guess", address="10.2.2.2")
    assert sign_in(client, "olaf", PASSWORD, address="10.2.2.2").status_code == 429
    assert sign_in(Client(), "olaf", PASSWORD, address="10.3.3.3").status_code == 302


def test_staff_unlock_an_account_in_the_admin(client, admin_user):
    UserFactory(username="mia")
    for _ in range(3):
        sign_in(client, "mia", "guess")
    staff = Client()
    staff.force_login(admin_user)
    attempts = staff.get(reverse("admin:axes_accessattempt_changelist")).content.decode()
    assert "mia" in attempts
    from axes.models import AccessAttempt

    selected = list(AccessAttempt.objects.values_list("pk", flat=True))
    staff.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": selected, "post": "yes"},
    )
    assert sign_in(client, "mia", PASSWORD).status_code == 302


def test_password_reset_is_hidden_without_mail_and_works_with_it(client, settings):
    settings.PASSWORD_RESET_BY_EMAIL = False
    assert "Forgot your password" not in client.get(reverse("login")).content.decode()
    assert client.get(reverse("password_reset")).status_code == 404
    settings.PASSWORD_RESET_BY_EMAIL = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    user = UserFactory(username="mia", email="mia@example.com")
    assert "Forgot your password" in client.get(reverse("login")).content.decode()
    assert client.post(reverse("password_reset"), {"email": "mia@example.com"}).status_code == 302
    (message,) = mail.outbox
    link = next(line for line in message.body.splitlines() if "/accounts/reset/" in line).strip()
    path = link[link.index("/accounts/reset/") :]
    form = client.get(path, follow=True)
    assert form.status_code == 200 and "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a new long passphrase 42", "new_password2": "a new long passphrase 42"},
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a new long passphrase 42")


def test_an_anonymous_large_body_is_refused_before_it_is_read(client, settings, publisher, product):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = {"username": "x", "password": "y", "file": SimpleUploadedFile("junk.bin", b"x" * 5000)}
    answer = client.post(reverse("login"), big)
    assert answer.status_code == 413
    assert client.post(reverse("login"), {"username": "x", "password": "y"}).status_code == 200
    # The publish page takes files from a signed-in publisher: past the limit, to the form's own checks.
    client.force_login(publisher)
    form = client.post(reverse("release-create"), {"file": SimpleUploadedFile("junk.bin", b"x" * 5000)})
    assert form.status_code == 200


def test_refusals_are_pages_of_the_site_with_a_way_forward(client, outsider):
    missing = client.get("/releases/999999/")
    assert missing.status_code == 404
    page = missing.content.decode()
    assert 'class="topbar"' in page and "Sign in" in page and reverse("login") in page
    client.force_login(outsider)
    refused = client.get(reverse("dashboard"))
    assert refused.status_code == 403
    assert "Swarm health is for staff." in refused.content.decode()
    assert "ask the product" in refused.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_malformed_forwarded_address_from_a_trusted_proxy_still_gets_an_answer(client, settings):
    # PostgreSQL's inet column refused what a proxy wrote: the sign-in page answered 500.
    settings.FANOUT_TRUSTED_PROXIES = ["10.0.0.0/8"]
    UserFactory(username="nina")
    answer = client.post(
        reverse("login"),
        {"username": "nina", "password": "guess"},
        REMOTE_ADDR="10.0.0.5",
        HTTP_X_FORWARDED_FOR="not-an-address",
    )
    assert answer.status_code == 200
    assert "_auth_user_id" not in client.session
    assert (
        client.post(
            reverse("login"),
            {"username": "nina", "password": PASSWORD},
            REMOTE_ADDR="10.0.0.5",
            HTTP_X_FORWARDED_FOR="198.51.100.7",
        ).status_code
        == 302
    )
