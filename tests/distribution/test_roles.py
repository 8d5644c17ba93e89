"""Per-product roles and the staff pages that change them, users and groups.

Who may publish to a product, manage a release and make a product is one rule
(Product.can_publish, Release.can_be_managed_by, access.may_create_products)
that the page, the API and tus all ask; each change is recorded in the audit
log and holds from the next request, the trackers' whitelist included.
"""

import base64
import re

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from bittorrent.torrents import TorrentFile
from distribution import services
from distribution.access import PUBLISHERS_GROUP, may_create_products, may_publish
from distribution.models import AuditEntry, Passkey, ProductRole, Release
from tests.distribution.catalogue_data import make_release
from tests.factories import GroupFactory, ProductFactory, UserFactory
from tracker.selectors import load_whitelist

MAINTAINER, PUBLISHER = ProductRole.Role.MAINTAINER, ProductRole.Role.PUBLISHER


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", is_staff=True)


@pytest.fixture
def atlas(db):
    return ProductFactory(name="Atlas", slug="atlas")


def with_role(product, role: str, username: str):
    user = UserFactory(username=username)
    ProductRole.objects.create(product=product, user=user, role=role)
    return user


def start(product, user, version: str = "1.0") -> Release:
    return services.start_release(
        product=product, version=version, files=[TorrentFile("a.bin", 10)], created_by=user
    )


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def signs_in(username: str, password: str) -> bool:
    """Whether the sign-in page lets them in (django-axes takes no sign-in without a request)."""
    return Client().post(reverse("login"), {"username": username, "password": password}).status_code == 302


def actions() -> list[tuple[str, str, dict]]:
    return list(AuditEntry.objects.order_by("pk").values_list("action", "actor_name", "details"))


# The rule.


@pytest.mark.django_db
def test_a_publisher_publishes_to_their_product_only_and_manages_their_own_releases(atlas):
    borealis = ProductFactory(name="Borealis", slug="borealis")
    maintainer = with_role(atlas, MAINTAINER, "maintainer")
    publisher = with_role(atlas, PUBLISHER, "publisher")
    colleague = with_role(atlas, PUBLISHER, "colleague")

    assert atlas.can_publish(publisher) and not borealis.can_publish(publisher)
    with pytest.raises(services.ReleaseRejected, match="You do not publish Borealis"):
        services.publishable_product(product=borealis, new_name="", user=publisher)
    own, theirs = start(atlas, publisher, "1.0"), start(atlas, colleague, "2.0")

    assert own.can_be_managed_by(publisher) and not theirs.can_be_managed_by(publisher)
    assert own.can_be_managed_by(maintainer) and theirs.can_be_managed_by(maintainer)
    assert atlas.can_maintain(maintainer) and not atlas.can_maintain(publisher)


@pytest.mark.django_db
def test_only_staff_make_products_unless_the_setting_lets_the_publishers_group(settings, staff, atlas):
    member = UserFactory(username="member")
    member.groups.add(Group.objects.get(name=PUBLISHERS_GROUP))
    assert not may_create_products(member) and not may_publish(member)
    with pytest.raises(services.ReleaseRejected, match="only staff make products"):
        services.publishable_product(product=None, new_name="Zephyr", user=member)

    made = start(services.publishable_product(product=None, new_name="Zephyr", user=staff), staff)
    assert made.product.role_of(staff) == MAINTAINER

    settings.FANOUT_PRODUCT_CREATORS = "publishers"
    assert may_create_products(member) and may_publish(member)
    own = start(services.publishable_product(product=None, new_name="Yukon", user=member), member)
    assert own.product.role_of(member) == MAINTAINER
    assert not may_create_products(UserFactory(username="not-in-the-group"))


@pytest.mark.django_db
def test_a_revoked_publisher_is_refused_by_the_page_the_api_and_tus_at_their_next_request(atlas, staff):
    publisher = with_role(atlas, PUBLISHER, "publisher")
    ProductRole.objects.create(product=ProductFactory(name="Borealis", slug="borealis"), user=publisher)
    client = logged_in(publisher)
    release = start(atlas, publisher)
    upload = client.post(
        reverse("tus-create"),
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "10",
            "Upload-Metadata": f"release {b64(str(release.pk))},relativePath {b64('a.bin')}",
        },
    )
    assert upload.status_code == 201
    assert ">Atlas<" in client.get(reverse("release-create")).content.decode()

    services.revoke_role(product=atlas, user=publisher, actor=staff)

    assert ">Atlas<" not in client.get(reverse("release-create")).content.decode()
    declared = client.post(
        reverse("api-release-list"),
        {"product": "atlas", "version": "2.0", "files": [{"path": "a.bin", "size": 1}]},
        content_type="application/json",
    )
    assert declared.status_code == 400 and declared.json() == {"detail": "You do not publish Atlas."}
    patched = client.patch(
        upload["Location"],
        b"0123456789",
        content_type="application/offset+octet-stream",
        headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0"},
    )
    assert patched.status_code == 404
    assert client.post(reverse("release-uploaded", args=[release.pk])).status_code == 404


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.django_db
def test_a_role_opens_the_products_private_swarms_at_the_next_whitelist_refresh(atlas, staff):
    release = make_release(product=atlas, visibility=Release.Visibility.PRIVATE)
    release.audience.set([GroupFactory(name="vault")])
    maintainer = UserFactory(username="maintainer")
    key = Passkey.for_user(maintainer).key.encode()
    private = load_whitelist().private[release.pk]
    assert load_whitelist().passkeys[key].isdisjoint(private)

    services.grant_role(product=atlas, user=maintainer, role=MAINTAINER, actor=staff)
    assert not load_whitelist().passkeys[key].isdisjoint(private)

    services.set_user_active(user=maintainer, active=False, actor=staff)
    assert key not in load_whitelist().passkeys


@pytest.mark.django_db
def test_role_group_and_account_changes_are_recorded_with_who_made_them(atlas, staff):
    person = UserFactory(username="person")
    group = services.create_group(name="vault", actor=staff)
    services.add_group_member(group=group, user=person, actor=staff)
    services.remove_group_member(group=group, user=person, actor=staff)
    services.grant_role(product=atlas, user=person, role=PUBLISHER, actor=staff)
    services.grant_role(product=atlas, user=person, role=PUBLISHER, actor=staff)  # no change: no line
    services.grant_role(product=atlas, user=person, role=MAINTAINER, actor=staff)
    services.revoke_role(product=atlas, user=person, actor=staff)
    services.set_user_active(user=person, active=False, actor=staff)
    services.set_user_active(user=person, active=True, actor=staff)

    assert actions() == [
        ("group.created", "staff", {}),
        ("group.member_added", "staff", {"user": "person"}),
        ("group.member_removed", "staff", {"user": "person"}),
        ("role.granted", "staff", {"user": "person", "role": "publisher", "previous_role": None}),
        ("role.granted", "staff", {"user": "person", "role": "maintainer", "previous_role": "publisher"}),
        ("role.revoked", "staff", {"user": "person", "role": "maintainer"}),
        ("user.deactivated", "staff", {}),
        ("user.reactivated", "staff", {}),
    ]


@pytest.mark.django_db
def test_refused_changes_say_why_and_change_nothing(atlas, staff):
    person = UserFactory(username="person", is_active=False)
    with pytest.raises(services.AccessChangeRefused, match="deactivated"):
        services.grant_role(product=atlas, user=person, role=PUBLISHER, actor=staff)
    with pytest.raises(services.AccessChangeRefused, match="no role"):
        services.revoke_role(product=atlas, user=person, actor=staff)
    with pytest.raises(services.AccessChangeRefused, match="your own account"):
        services.set_user_active(user=staff, active=False, actor=staff)
    with pytest.raises(services.AccessChangeRefused, match="already deactivated"):
        services.set_user_active(user=person, active=False, actor=staff)
    with pytest.raises(services.AccessChangeRefused, match="already a group"):
        services.create_group(name="PUBLISHERS", actor=staff)
    assert not AuditEntry.objects.exists() and staff.is_active


# The staff pages.

STAFF_PAGES = ["staff-users", "staff-user-create", "staff-groups", "staff-products"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", STAFF_PAGES)
def test_staff_pages_send_the_anonymous_to_sign_in_and_refuse_others_with_the_403_page(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.force_login(UserFactory(username="someone"))
    refused = client.get(reverse(name))
    assert refused.status_code == 403 and b'class="topbar"' in refused.content


@pytest.mark.django_db
def test_staff_find_users_by_name_or_address(staff):
    UserFactory(username="alice", email="alice@example.com")
    UserFactory(username="bob", email="bob@corp.example")
    page = logged_in(staff).get(reverse("staff-users"), {"q": "corp"}).content.decode()
    assert ">bob<" in page and ">alice<" not in page


@pytest.mark.django_db
def test_a_user_made_without_mail_gets_an_initial_password_shown_once(settings, staff):
    settings.PASSWORD_RESET_BY_EMAIL = False
    client = logged_in(staff)
    response = client.post(reverse("staff-user-create"), {"username": "carol", "email": "carol@example.com"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    password = re.search(r'data-testid="initial-password-value">([^<]+)<', response.content.decode())[1]
    assert signs_in("carol", password)
    again = client.post(reverse("staff-user-create"), {"username": "Carol", "email": ""})
    assert "There is already a user Carol." in again.content.decode()
    assert [entry for entry in actions() if entry[0] == "user.created"] == [
        ("user.created", "staff", {"email": "carol@example.com", "invited": False})
    ]


@pytest.mark.django_db
def test_a_user_invited_where_mail_is_sent_chooses_a_password_through_the_link(settings, staff):
    settings.PASSWORD_RESET_BY_EMAIL = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = logged_in(staff).post(
        reverse("staff-user-create"), {"username": "dave", "email": "d@example.com"}
    )
    assert response.status_code == 302
    assert not signs_in("dave", "")
    (message,) = mail.outbox
    assert message.to == ["d@example.com"] and "dave" in message.body
    link = re.search(r"https?://\S+", message.body)[0].removeprefix(settings.FANOUT_PUBLIC_URL)
    visitor = Client()
    form_page = visitor.get(link, follow=True)
    assert form_page.status_code == 200
    chosen = "a long and fine passphrase"
    visitor.post(form_page.redirect_chain[-1][0], {"new_password1": chosen, "new_password2": chosen})
    assert signs_in("dave", chosen)


@pytest.mark.django_db
def test_a_deactivated_user_is_signed_out_and_cannot_sign_in_until_reactivated(staff):
    person = UserFactory(username="erin")
    session = Client()
    session.force_login(person)
    assert session.get(reverse("account-tokens")).status_code == 200

    logged_in(staff).post(reverse("staff-user-active", args=[person.pk]), {"active": "0"})

    assert session.get(reverse("account-tokens")).status_code == 302
    assert not signs_in("erin", "correct horse battery staple")
    logged_in(staff).post(reverse("staff-user-active", args=[person.pk]), {"active": "1"})
    assert signs_in("erin", "correct horse battery staple")


@pytest.mark.django_db
def test_staff_make_a_group_and_manage_its_members(staff):
    UserFactory(username="frank")
    client = logged_in(staff)
    made = client.post(reverse("staff-groups"), {"name": "vault-team"})
    group = Group.objects.get(name="vault-team")
    assert made["Location"] == reverse("staff-group", args=[group.pk])
    assert client.post(made["Location"], {"username": "nobody"}).status_code == 200
    client.post(made["Location"], {"username": "frank"})
    assert list(group.user_set.values_list("username", flat=True)) == ["frank"]
    client.post(reverse("staff-group-remove", args=[group.pk]), {"user": str(group.user_set.get().pk)})
    assert not group.user_set.exists()
    assert client.post(reverse("staff-group-remove", args=[group.pk]), {"user": "x"}).status_code == 400


@pytest.mark.django_db
def test_a_maintainer_manages_their_products_roles_and_no_other(atlas):
    borealis = ProductFactory(name="Borealis", slug="borealis")
    make_release(product=borealis)
    maintainer = with_role(atlas, MAINTAINER, "maintainer")
    publisher = with_role(atlas, PUBLISHER, "publisher")
    UserFactory(username="grace")
    client = logged_in(maintainer)

    page = client.get(reverse("product-roles", args=["atlas"]))
    assert page.status_code == 200 and 'data-testid="role-publisher"' in page.content.decode()
    client.post(reverse("product-roles", args=["atlas"]), {"username": "grace", "role": "maintainer"})
    assert atlas.roles.get(user__username="grace").role == MAINTAINER
    client.post(reverse("product-role-revoke", args=["atlas"]), {"user": str(publisher.pk)})
    assert atlas.role_of(publisher) is None

    assert client.get(reverse("product-roles", args=["borealis"])).status_code == 403  # public: it exists
    # Atlas has no release yet: whoever holds no role on it is not told it exists.
    assert logged_in(publisher).get(reverse("product-roles", args=["atlas"])).status_code == 404
    still_publisher = with_role(atlas, PUBLISHER, "still-publisher")
    assert logged_in(still_publisher).get(reverse("product-roles", args=["atlas"])).status_code == 403
    assert "atlas/roles/" in client.get(reverse("publisher-releases")).content.decode()


# The upgrade.


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_makes_every_publisher_of_a_product_its_publisher_and_the_undo_keeps_them():
    executor = MigrationExecutor(connection)
    before, after = [("distribution", "0016_web_seed_route")], [("distribution", "0018_product_roles")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("auth", "User").objects.create(username="early")
    product = old.get_model("distribution", "Product").objects.create(name="Old", slug="old")
    product.publishers.add(user)

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    new = executor.loader.project_state(after).apps
    role = new.get_model("distribution", "ProductRole").objects.get()
    assert (role.user.username, role.product.slug, role.role) == ("early", "old", "publisher")

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    undone = executor.loader.project_state(before).apps
    product = undone.get_model("distribution", "Product").objects.get()
    assert list(product.publishers.values_list("username", flat=True)) == ["early"]
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
