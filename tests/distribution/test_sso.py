"""Single sign-on's rules (distribution.sso): which user the provider's claims are, and their groups.

The whole sign-in, against a real provider, is in tests/sso/.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from distribution.access import PUBLISHERS_GROUP
from distribution.models import SsoIdentity
from distribution.sso import SignInRefused, user_for_claims
from tests.factories import GroupFactory, UserFactory

pytestmark = pytest.mark.django_db
ISSUER = "https://id.example.com"


@pytest.fixture(autouse=True)
def groups_claim(settings):
    settings.FANOUT_OIDC_GROUPS_CLAIM = "groups"
    settings.FANOUT_OIDC_GROUPS_PREFIX = ""


def sign_in(**claims):
    return user_for_claims(issuer=ISSUER, claims=claims)


def group_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_the_first_sign_in_makes_a_user_named_by_the_username_claim_without_a_password():
    user = sign_in(sub="s-1", preferred_username="ada", email="ada@example.com")
    assert (user.username, user.email, user.has_usable_password()) == ("ada", "ada@example.com", False)
    assert SsoIdentity.objects.get(user=user).subject == "s-1"


def test_without_the_username_claim_the_user_is_named_by_the_subject(settings):
    settings.FANOUT_OIDC_USERNAME_CLAIM = "upn"
    assert sign_in(sub="2f1e-77", preferred_username="ada").username == "2f1e-77"


def test_later_sign_ins_find_the_user_by_subject_even_renamed_at_the_provider():
    first = sign_in(sub="s-1", preferred_username="ada", email="ada@example.com")
    again = sign_in(sub="s-1", preferred_username="ada.lovelace", email="ada@lovelace.example")
    assert again == first
    again.refresh_from_db()
    assert (again.username, again.email) == ("ada", "ada@lovelace.example")
    assert get_user_model().objects.count() == 1


def test_a_name_held_by_a_local_account_refuses_the_sign_in_and_takes_nothing():
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    with pytest.raises(SignInRefused, match="'admin' belongs to another account here"):
        sign_in(sub="s-9", preferred_username="admin", groups=["qa"])
    assert not SsoIdentity.objects.exists()
    assert list(get_user_model().objects.all()) == [admin]
    assert not Group.objects.filter(name="qa").exists()


def test_a_subject_staff_linked_to_a_local_account_signs_in_as_it():
    local = UserFactory(username="ada-local")
    SsoIdentity.objects.create(user=local, issuer=ISSUER, subject="s-1")
    assert sign_in(sub="s-1", preferred_username="ada") == local


def test_the_same_subject_at_another_issuer_is_someone_else():
    first = sign_in(sub="s-1", preferred_username="ada")
    with pytest.raises(SignInRefused, match="belongs to another account"):
        user_for_claims(
            issuer="https://other.example.com", claims={"sub": "s-1", "preferred_username": "ada"}
        )
    assert SsoIdentity.objects.get().user == first


@pytest.mark.parametrize("username", ["ada lovelace", "x" * 151])
def test_a_user_name_this_site_does_not_take_refuses_the_sign_in(username):
    with pytest.raises(SignInRefused, match="is not one this site takes"):
        sign_in(sub="s-1", preferred_username=username)


def test_groups_follow_the_claim_made_if_missing_and_left_when_dropped():
    GroupFactory(name="qa")
    user = sign_in(sub="s-1", preferred_username="ada", groups=["qa", "ops"])
    assert group_names(user) == {"qa", "ops"}
    sign_in(sub="s-1", preferred_username="ada", groups=["ops", "release-managers"])
    assert group_names(user) == {"ops", "release-managers"}
    assert Group.objects.filter(name="qa").exists()  # left, not deleted: other users and audiences keep it


def test_without_a_prefix_the_provider_decides_every_group():
    user = sign_in(sub="s-1", preferred_username="ada", groups=["qa"])
    user.groups.add(Group.objects.get(name=PUBLISHERS_GROUP))
    sign_in(sub="s-1", preferred_username="ada", groups=["qa"])
    assert group_names(user) == {"qa"}


def test_with_a_prefix_only_the_groups_within_it_follow_the_claim(settings):
    settings.FANOUT_OIDC_GROUPS_PREFIX = "fanout-"
    user = sign_in(sub="s-1", preferred_username="ada", groups=["fanout-qa", "fanout-ops", "vpn-users"])
    user.groups.add(Group.objects.get(name=PUBLISHERS_GROUP), GroupFactory(name="beta-testers"))
    assert group_names(user) == {"fanout-qa", "fanout-ops", PUBLISHERS_GROUP, "beta-testers"}

    sign_in(sub="s-1", preferred_username="ada", groups=["fanout-ops", "vpn-users"])

    assert group_names(user) == {"fanout-ops", PUBLISHERS_GROUP, "beta-testers"}
    assert not Group.objects.filter(name="vpn-users").exists()


def test_a_missing_groups_claim_is_no_group():
    user = sign_in(sub="s-1", preferred_username="ada", groups=["qa"])
    sign_in(sub="s-1", preferred_username="ada")
    assert group_names(user) == set()


def test_without_a_groups_claim_configured_groups_are_left_alone(settings):
    settings.FANOUT_OIDC_GROUPS_CLAIM = None
    user = sign_in(sub="s-1", preferred_username="ada", groups=["qa"])
    assert group_names(user) == set()
    user.groups.add(GroupFactory(name="ops"))
    sign_in(sub="s-1", preferred_username="ada", groups=[])
    assert group_names(user) == {"ops"}


@pytest.mark.parametrize("groups", ["qa", ["qa", 7], [""], ["x" * 151], {"qa": True}])
def test_a_groups_claim_that_is_not_a_list_of_names_refuses_the_sign_in_and_changes_nothing(groups):
    user = sign_in(sub="s-1", preferred_username="ada", groups=["ops"])
    with pytest.raises(SignInRefused, match="groups claim is not a list of group names"):
        sign_in(sub="s-1", preferred_username="ada", groups=groups)
    assert group_names(user) == {"ops"}


def test_claims_without_a_subject_sign_nobody_in():
    with pytest.raises(SignInRefused, match="no subject"):
        sign_in(preferred_username="ada")
    assert not get_user_model().objects.exists()
