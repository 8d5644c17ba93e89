"""System checks of the settings that depend on each other (registered by config/apps.py).

Every management command runs them before it starts, as `manage.py check`
does; each error names the settings and what to set.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured
from django.http.request import validate_host
from kombu.transport.redis import Channel as RedisChannel

from distribution.oidc import callback_url
from distribution.tasks import build_torrent

# How late a client's next announce may come after the interval it was given:
# its request's timeouts and retries.
ANNOUNCE_LATENESS = 300


@register()
def check_peer_ttl(app_configs, **kwargs) -> list[CheckMessage]:
    shortest = settings.FANOUT_ANNOUNCE_INTERVAL + ANNOUNCE_LATENESS
    if settings.FANOUT_PEER_TTL >= shortest:
        return []
    return [
        Error(
            f"FANOUT_PEER_TTL ({settings.FANOUT_PEER_TTL} s) is shorter than FANOUT_ANNOUNCE_INTERVAL "
            f"({settings.FANOUT_ANNOUNCE_INTERVAL} s) plus {ANNOUNCE_LATENESS} s for a late announce: "
            "peers drop out of their swarms between two announces.",
            hint=f"Set FANOUT_PEER_TTL to at least {shortest}, or unset it (2 × FANOUT_ANNOUNCE_INTERVAL "
            "+ 300), or lower FANOUT_ANNOUNCE_INTERVAL.",
            id="fanout.E001",
        )
    ]


@register()
def check_announce_min_interval(app_configs, **kwargs) -> list[CheckMessage]:
    if settings.FANOUT_ANNOUNCE_MIN_INTERVAL <= settings.FANOUT_ANNOUNCE_INTERVAL:
        return []
    return [
        Error(
            f"FANOUT_ANNOUNCE_MIN_INTERVAL ({settings.FANOUT_ANNOUNCE_MIN_INTERVAL} s) is longer than "
            f"FANOUT_ANNOUNCE_INTERVAL ({settings.FANOUT_ANNOUNCE_INTERVAL} s): clients are told to "
            "announce again before they may.",
            hint=f"Set FANOUT_ANNOUNCE_MIN_INTERVAL to at most {settings.FANOUT_ANNOUNCE_INTERVAL}.",
            id="fanout.E002",
        )
    ]


@register()
def check_broker_visibility_timeout(app_configs, **kwargs) -> list[CheckMessage]:
    # Only the Redis broker hands an unacknowledged task to another worker after a timeout.
    if urlsplit(settings.CELERY_BROKER_URL).scheme not in ("redis", "rediss"):
        return []
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get(
        "visibility_timeout", RedisChannel.visibility_timeout
    )
    limit = build_torrent.time_limit
    if timeout > limit:
        return []
    return [
        Error(
            f"The Redis broker's visibility_timeout ({timeout} s) is not longer than the torrent build's "
            f"time limit ({limit} s, distribution.tasks.build_torrent): Redis hands a build still running "
            "to a second worker.",
            hint=f"Set visibility_timeout above {limit} in config/settings.py's "
            "CELERY_BROKER_TRANSPORT_OPTIONS.",
            id="fanout.E003",
        )
    ]


@register()
def check_public_url_is_an_allowed_host(app_configs, **kwargs) -> list[CheckMessage]:
    host = urlsplit(settings.FANOUT_PUBLIC_URL).hostname or ""
    host = f"[{host}]" if ":" in host else host
    if validate_host(host, settings.ALLOWED_HOSTS):
        return []
    return [
        Error(
            f"The host of FANOUT_PUBLIC_URL ({host}) is not in ALLOWED_HOSTS "
            f"({', '.join(settings.ALLOWED_HOSTS)}): Django refuses the pages, torrents and web seeds "
            "its own links point at.",
            hint=f"Add {host} to ALLOWED_HOSTS, or set FANOUT_PUBLIC_URL to a host it lists.",
            id="fanout.E004",
        )
    ]


@register()
def check_secret_key(app_configs, **kwargs) -> list[CheckMessage]:
    try:
        settings.SECRET_KEY  # noqa: B018 (Django refuses to hand out an empty key)
    except ImproperlyConfigured:
        return [
            Error(
                f"SECRET_KEY is unset and there is no key in {settings.SECRET_KEY_FILE}.",
                hint="Set SECRET_KEY, or start Fanout once with `make run`: it keeps a random key there.",
                id="fanout.E005",
            )
        ]
    return []


@register()
def check_single_sign_on_only_with_a_provider(app_configs, **kwargs) -> list[CheckMessage]:
    if not settings.FANOUT_OIDC_ONLY or settings.FANOUT_OIDC_ISSUER:
        return []
    return [
        Error(
            "FANOUT_OIDC_ONLY is True but FANOUT_OIDC_ISSUER is unset: it takes no password and offers "
            "no provider, so nobody can sign in.",
            hint="Set FANOUT_OIDC_ISSUER (and the client's FANOUT_OIDC_CLIENT_ID and "
            "FANOUT_OIDC_CLIENT_SECRET_FILE), or unset FANOUT_OIDC_ONLY.",
            id="fanout.E006",
        )
    ]


@register()
def check_single_sign_on_client(app_configs, **kwargs) -> list[CheckMessage]:
    if not settings.FANOUT_OIDC_ISSUER or (settings.OIDC_RP_CLIENT_ID and settings.OIDC_RP_CLIENT_SECRET):
        return []
    missing = [
        name
        for name, value in (
            ("FANOUT_OIDC_CLIENT_ID", settings.OIDC_RP_CLIENT_ID),
            ("FANOUT_OIDC_CLIENT_SECRET_FILE", settings.OIDC_RP_CLIENT_SECRET),
        )
        if not value
    ]
    return [
        Error(
            f"FANOUT_OIDC_ISSUER is set but {' and '.join(missing)} not: the provider refuses a sign-in "
            "from an unknown client.",
            hint="Register Fanout at the provider as a confidential client with the redirect URI "
            f"{callback_url()}, and set "
            "FANOUT_OIDC_CLIENT_ID and FANOUT_OIDC_CLIENT_SECRET_FILE (a file holding its secret).",
            id="fanout.E007",
        )
    ]
