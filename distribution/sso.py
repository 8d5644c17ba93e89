"""Single sign-on's rules: which user a sign-in through the OpenID Connect provider is, and their groups.

The claims arrive checked by the OpenID Connect client (distribution.oidc). The
first sign-in of a subject makes its user, named by FANOUT_OIDC_USERNAME_CLAIM
(``sub`` when the provider sends none), and links the two (``SsoIdentity``);
later sign-ins find the user by that link alone, so a name changed at the
provider keeps its account, and a name that is already a local account's (the
first admin's, say) never signs in as it.

With FANOUT_OIDC_GROUPS_CLAIM set, the provider manages the groups whose names
start with FANOUT_OIDC_GROUPS_PREFIX (every group when it is empty): at each
sign-in the user joins those the claim names, made if missing, and leaves those
it no longer names. Groups outside the prefix (the publishers group, groups
staff keep by hand) are left alone, and a name the claim sends outside it is
ignored. Audiences of private releases are groups: pages follow at once, the
trackers within FANOUT_TRACKER_WHITELIST_REFRESH seconds.
"""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from distribution.models import SsoIdentity

GROUP_NAME_MAX_LENGTH = Group._meta.get_field("name").max_length


class SignInRefused(Exception):
    """The provider's claims sign nobody in here; the message says why, for the user and the log."""


def user_for_claims(*, issuer: str, claims: Mapping[str, Any]) -> AbstractUser:
    """The user that the provider's checked claims are, made at their first sign-in, with their
    email and (when a groups claim is configured) provider-managed groups brought up to date."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise SignInRefused("the provider sent no subject (sub)")
    # Everything is checked before anything is written.
    groups = provider_groups(claims)
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    identity = SsoIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    with transaction.atomic():
        if identity is None:
            user = _create_user(issuer=issuer, subject=subject, username=username_from_claims(claims))
        else:
            user = identity.user
        if email is not None and user.email != email:
            user.email = email
            user.save(update_fields=["email"])
        if groups is not None:
            follow_provider_groups(user, groups)
    return user


def username_from_claims(claims: Mapping[str, Any]) -> str:
    """FANOUT_OIDC_USERNAME_CLAIM's value, or the subject when the provider sends none."""
    username = claims.get(settings.FANOUT_OIDC_USERNAME_CLAIM) or claims["sub"]
    if not isinstance(username, str):
        raise SignInRefused(f"the provider's {settings.FANOUT_OIDC_USERNAME_CLAIM} claim is not a name")
    try:
        get_user_model()._meta.get_field("username").run_validators(username)
    except ValidationError as error:
        raise SignInRefused(
            f"the user name {username!r} is not one this site takes: {error.messages[0]}"
        ) from None
    return username


def provider_groups(claims: Mapping[str, Any]) -> set[str] | None:
    """The groups the provider puts the user in, within the prefix; None when no claim is configured.

    A missing claim is no group (providers leave it out for users in none); a claim
    that is not a list of group names refuses the sign-in rather than guessing.
    """
    claim = settings.FANOUT_OIDC_GROUPS_CLAIM
    if not claim:
        return None
    names = claims.get(claim, [])
    if not isinstance(names, list) or not all(
        isinstance(name, str) and 0 < len(name) <= GROUP_NAME_MAX_LENGTH for name in names
    ):
        raise SignInRefused(f"the provider's {claim} claim is not a list of group names")
    return {name for name in names if name.startswith(settings.FANOUT_OIDC_GROUPS_PREFIX)}


def follow_provider_groups(user: AbstractUser, names: set[str]) -> None:
    """Make the user's provider-managed groups (FANOUT_OIDC_GROUPS_PREFIX) exactly ``names``."""
    prefix = settings.FANOUT_OIDC_GROUPS_PREFIX
    with transaction.atomic():
        Group.objects.bulk_create([Group(name=name) for name in sorted(names)], ignore_conflicts=True)
        user.groups.remove(*user.groups.filter(name__startswith=prefix).exclude(name__in=names))
        user.groups.add(*Group.objects.filter(name__in=names))


def _create_user(*, issuer: str, subject: str, username: str) -> AbstractUser:
    """A new user, without a password (it signs in through the provider), linked to its subject."""
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(username)
            SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    except IntegrityError:
        # Another account holds the name, or a first sign-in of the same subject just made it: the
        # next sign-in then finds it.
        raise SignInRefused(
            f"the user name {username!r} belongs to another account here: an administrator can link "
            "that account to you (Admin, single sign-on identities)"
        ) from None
    return user
