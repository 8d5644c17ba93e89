"""Fanout's settings, all read from the environment.

Unset variables fall back to embedded defaults that run the whole service on
one machine with no servers: SQLite in ``FANOUT_DATA_DIR``, a filesystem
Celery broker, an in-memory swarm store. Importing this module creates and
writes nothing: config/data_dir.py prepares the data directory before the
processes that use it start. Settings that depend on each other are checked
by config/checks.py.
"""

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.environment import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_networks,
    env_optional_str,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = Path(env_str("FANOUT_DATA_DIR", str(BASE_DIR / "var"))).resolve()

_configured_secret_key = env_secret("SECRET_KEY")
# Embedded default: one random key per data directory, written by `make run`
# (config/data_dir.py) and kept across restarts so that sessions and signed
# values stay valid. Until it exists the key is empty, which Django refuses to
# use, and `manage.py check` says how to get one (fanout.E005).
SECRET_KEY_FILE = None if _configured_secret_key else DATA_DIR / "secret_key"
SECRET_KEY = _configured_secret_key or (
    SECRET_KEY_FILE.read_text().strip() if SECRET_KEY_FILE.exists() else ""
)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

WEB_PORT = env_int("WEB_PORT", 8000, minimum=1)
TRACKER_PORT = env_int("TRACKER_PORT", 6969, minimum=1)
SEEDER_PORT = env_int("SEEDER_PORT", 6881, minimum=1)

FANOUT_PUBLIC_URL = env_str("FANOUT_PUBLIC_URL", f"http://localhost:{WEB_PORT}").rstrip("/")
if urlsplit(FANOUT_PUBLIC_URL).scheme not in ("http", "https"):
    raise ImproperlyConfigured(f"FANOUT_PUBLIC_URL must be an http(s) URL, got {FANOUT_PUBLIC_URL!r}")
FANOUT_ANNOUNCE_URL = env_str(
    "FANOUT_ANNOUNCE_URL",
    f"http://{urlsplit(FANOUT_PUBLIC_URL).hostname}:{TRACKER_PORT}/announce",
)

# HTTPS behind the front (deploy/nginx.conf, docs/deploy.md). The defaults serve `make run` on plain
# http://; the production values are in .env.example, and with them `manage.py check --deploy` is clean.
# The header the front sets to "https" for a request that reached it over TLS: trust it only from a
# front that always sets it (anyone could send it to a process that is reached directly).
_proxy_ssl_header = env_optional_str("SECURE_PROXY_SSL_HEADER")
if _proxy_ssl_header is not None and not re.fullmatch(r"[A-Za-z0-9-]+", _proxy_ssl_header):
    raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER must be a header name, got {_proxy_ssl_header!r}")
SECURE_PROXY_SSL_HEADER = (
    None if _proxy_ssl_header is None else (f"HTTP_{_proxy_ssl_header.upper().replace('-', '_')}", "https")
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Origins besides FANOUT_PUBLIC_URL whose forms may post here (another name of the same front).
CSRF_TRUSTED_ORIGINS = [FANOUT_PUBLIC_URL, *env_list("CSRF_TRUSTED_ORIGINS", [])]
for _origin in CSRF_TRUSTED_ORIGINS:
    if urlsplit(_origin).scheme not in ("http", "https") or not urlsplit(_origin).netloc:
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS: {_origin!r} is not an origin like https://host")


FANOUT_TORRENT_FORMAT = env_choice("FANOUT_TORRENT_FORMAT", "v1", ("v1", "hybrid", "v2"))
FANOUT_SEEDER_UPLOAD_LIMIT = env_int("FANOUT_SEEDER_UPLOAD_LIMIT", 0, minimum=0)
# Seeder nodes (seeder/): connection limits, seeding policy, and how many nodes seed each release.
FANOUT_SEEDER_CONNECTIONS_LIMIT = env_int("FANOUT_SEEDER_CONNECTIONS_LIMIT", 500, minimum=2)
FANOUT_SEEDER_UNCHOKE_SLOTS = env_int("FANOUT_SEEDER_UNCHOKE_SLOTS", 8, minimum=1)
FANOUT_SEEDER_POLICY = env_choice(
    "FANOUT_SEEDER_POLICY",
    "economy",
    ("economy", "super-seeding", "round-robin", "anti-leech", "fastest-upload"),
)
FANOUT_SEEDER_COPIES = env_int("FANOUT_SEEDER_COPIES", 0, minimum=0)
FANOUT_SEEDER_DEMAND_INTERVAL = env_int("FANOUT_SEEDER_DEMAND_INTERVAL", 30, minimum=1)
# Seconds between a node's questions to the tracker about whom its private releases may serve.
FANOUT_SEEDER_ALLOW_LIST_INTERVAL = env_int("FANOUT_SEEDER_ALLOW_LIST_INTERVAL", 2, minimum=1)
# Web seeds through a web server: the prefix of its internal location (e.g. /protected/), or unset.
FANOUT_X_ACCEL_REDIRECT = env_optional_str("FANOUT_X_ACCEL_REDIRECT")
# The web seed's pace in bytes/s (distribution/web_seed_policy.py): per response, and per release
# shared by its leechers. While the swarm has no complete copy it is the fallback (0: unlimited);
# while it has one (a live seeder of ours, or a finished peer), it is held back.
FANOUT_WEBSEED_RATE = env_int("FANOUT_WEBSEED_RATE", 0, minimum=0)
FANOUT_WEBSEED_RELEASE_RATE = env_int("FANOUT_WEBSEED_RELEASE_RATE", 0, minimum=0)
FANOUT_WEBSEED_HELD_RATE = env_int("FANOUT_WEBSEED_HELD_RATE", 16 * 1024, minimum=1024)
FANOUT_WEBSEED_HELD_RELEASE_RATE = env_int("FANOUT_WEBSEED_HELD_RELEASE_RATE", 256 * 1024, minimum=1024)
# /metrics answers a scraper that sends "Authorization: Bearer <this>" (and staff sessions).
FANOUT_METRICS_TOKEN = env_secret("FANOUT_METRICS_TOKEN")
FANOUT_ANNOUNCE_INTERVAL = env_int("FANOUT_ANNOUNCE_INTERVAL", 1800, minimum=1)
FANOUT_ANNOUNCE_MIN_INTERVAL = env_int("FANOUT_ANNOUNCE_MIN_INTERVAL", 60, minimum=0)
# Unset: a peer survives one missed announce, and its next one 300 s late (config/checks.py).
FANOUT_PEER_TTL = env_int("FANOUT_PEER_TTL", 2 * FANOUT_ANNOUNCE_INTERVAL + 300, minimum=1)
FANOUT_TRACKER_WHITELIST_REFRESH = env_int("FANOUT_TRACKER_WHITELIST_REFRESH", 2, minimum=1)
# Addresses or networks (comma-separated) of reverse proxies in front of the
# tracker: only from these is X-Forwarded-For believed. Empty: the connection's address is the client's.
FANOUT_TRUSTED_PROXIES = env_networks("FANOUT_TRUSTED_PROXIES")
# How often swarm statistics go from the swarm store to the database.
FANOUT_TRACKER_STATS_FLUSH_SECONDS = env_int("FANOUT_TRACKER_STATS_FLUSH_SECONDS", 30, minimum=1)
FANOUT_RELEASE_MAX_BYTES = env_int("FANOUT_RELEASE_MAX_BYTES", 64 * 1024**3, minimum=1)
# The bytes all of one publisher's releases (retired ones excepted) may hold; 0: no quota.
FANOUT_PUBLISHER_QUOTA_BYTES = env_int("FANOUT_PUBLISHER_QUOTA_BYTES", 1024**4, minimum=0)
# Who may make a new product (and becomes its maintainer): staff, or also the `publishers` group.
FANOUT_PRODUCT_CREATORS = env_choice("FANOUT_PRODUCT_CREATORS", "staff", ("staff", "publishers"))
# A browser upload that receives no byte for this long is abandoned: its bytes are removed.
FANOUT_UPLOAD_EXPIRY_SECONDS = env_int("FANOUT_UPLOAD_EXPIRY_SECONDS", 24 * 3600, minimum=60)
# Days after its retirement that a release's files are removed from disk (the page says so); 0: never.
FANOUT_RETIRED_PURGE_DAYS = env_int("FANOUT_RETIRED_PURGE_DAYS", 0, minimum=0)
# Days the audit log keeps a line (distribution.audit; an hourly task removes older ones); 0: forever.
FANOUT_AUDIT_RETENTION_DAYS = env_int("FANOUT_AUDIT_RETENTION_DAYS", 365, minimum=0)

# The group that reads the data directory besides Fanout (the web server sending release files):
# a name or a number; unset, only Fanout's user reads it (config/data_dir.py).
FANOUT_DATA_GROUP = env_optional_str("FANOUT_DATA_GROUP")
RELEASES_DIR = DATA_DIR / "releases"
UPLOADS_DIR = DATA_DIR / "uploads"
SEEDER_STATE_DIR = DATA_DIR / "seeder"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "axes",
    "distribution",
    "tracker",
    "seeder",
    "operations",
    "config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "distribution.middleware.ApiTokenMiddleware",
    "distribution.middleware.RequestBodyLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "distribution.context_processors.publisher",
                "distribution.context_processors.sign_in",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_secret("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'fanout.sqlite3'}",
        conn_max_age=60,
        # A kept connection is checked before each request or task reuses it: after a database
        # restart, the first one would otherwise fail on a connection the server closed.
        conn_health_checks=True,
    )
}
# The password apart from the URL: PostgreSQL's container and Fanout's read one secret file.
_database_password = env_secret("DATABASE_PASSWORD")
if _database_password is not None:
    if DATABASES["default"].get("PASSWORD"):
        raise ImproperlyConfigured("DATABASE_URL has a password and DATABASE_PASSWORD is set: give one")
    DATABASES["default"]["PASSWORD"] = _database_password
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker, tracker and seeder share one file: WAL lets readers run
    # beside a writer, IMMEDIATE transactions avoid upgrade deadlocks.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # Tests start worker and seeder processes: they need a file they can open.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Page queries (the dashboard's correlated subqueries over every release) are estimated
    # costly enough for PostgreSQL to JIT-compile them, which takes longer than running them.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "catalogue"

# Single sign-on with the company's OpenID Connect provider (distribution/oidc.py, distribution/sso.py),
# on when FANOUT_OIDC_ISSUER is set: its endpoints come from its discovery document at the first
# sign-in. Users are made at their first sign-in; with FANOUT_OIDC_GROUPS_CLAIM their groups whose
# names start with FANOUT_OIDC_GROUPS_PREFIX (every group without one) follow that claim at each.
FANOUT_OIDC_ISSUER = env_optional_str("FANOUT_OIDC_ISSUER")
if FANOUT_OIDC_ISSUER and urlsplit(FANOUT_OIDC_ISSUER).scheme not in ("http", "https"):
    raise ImproperlyConfigured(f"FANOUT_OIDC_ISSUER must be an http(s) URL, got {FANOUT_OIDC_ISSUER!r}")
FANOUT_OIDC_PROVIDER_NAME = env_str("FANOUT_OIDC_PROVIDER_NAME", "SSO")
FANOUT_OIDC_USERNAME_CLAIM = env_str("FANOUT_OIDC_USERNAME_CLAIM", "preferred_username")
FANOUT_OIDC_GROUPS_CLAIM = env_optional_str("FANOUT_OIDC_GROUPS_CLAIM")
FANOUT_OIDC_GROUPS_PREFIX = env_str("FANOUT_OIDC_GROUPS_PREFIX", "")
# No password sign-in anywhere (login page, admin): the provider is the only way in (fanout.E006).
FANOUT_OIDC_ONLY = env_bool("FANOUT_OIDC_ONLY", False)
# mozilla-django-oidc's settings: the client registered at the provider (fanout.E007).
OIDC_RP_CLIENT_ID = env_str("FANOUT_OIDC_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_secret("FANOUT_OIDC_CLIENT_SECRET") or ""
OIDC_RP_SCOPES = env_str("FANOUT_OIDC_SCOPES", "openid email profile")
# Every provider signs ID tokens with RS256 (OpenID Connect Discovery requires it).
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_TIMEOUT = 10
OIDC_AUTHENTICATION_CALLBACK_URL = "sso-callback"

# Password guessing (django-axes): after FANOUT_LOGIN_FAILURE_LIMIT failed sign-ins an account,
# and separately an address, is refused for FANOUT_LOGIN_LOCKOUT_MINUTES (or until staff unlock
# it: the admin's "Access attempts"). The address is the tracker's rule's (FANOUT_TRUSTED_PROXIES).
# Passwords are checked by ModelBackend, which FANOUT_OIDC_ONLY leaves out; the provider's backend
# also answers permission checks, as ModelBackend does.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    *([] if FANOUT_OIDC_ONLY else ["django.contrib.auth.backends.ModelBackend"]),
    *(["distribution.oidc.ProviderBackend"] if FANOUT_OIDC_ISSUER else []),
]
AXES_FAILURE_LIMIT = env_int("FANOUT_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("FANOUT_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "tracker.views.sign_in_client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Password reset mails through this server; without one, the reset pages do not exist.
EMAIL_HOST = env_optional_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "fanout@localhost")
# A password is of no use where the provider is the only way in.
PASSWORD_RESET_BY_EMAIL = EMAIL_HOST is not None and not FANOUT_OIDC_ONLY
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if PASSWORD_RESET_BY_EMAIL
    else "django.core.mail.backends.dummy.EmailBackend"
)
LOGOUT_REDIRECT_URL = "catalogue"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
# Front-end libraries come from npm (package-lock.json), installed by the Makefile.
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/tus", NODE_MODULES / "tus-js-client" / "dist"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/chart", NODE_MODULES / "chart.js" / "dist"),
    ("vendor/swagger-ui", NODE_MODULES / "swagger-ui-dist"),
]
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Uploads larger than this go to a temporary file on disk, never into memory:
# in the data directory itself, which every instance has (the volume in
# docker-compose.yml), on the filesystem of RELEASES_DIR so that storing one is a rename.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR)
DATA_UPLOAD_MAX_NUMBER_FILES = 1000

REDIS_URL = env_optional_str("REDIS_URL")

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Longer than the longest build (fanout.E003): otherwise Redis hands an
    # unacknowledged task to a second worker while the first is still running it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 4 * 3600}
else:
    # The folders are made by the processes that use them (config/celery.py).
    _broker_dir = DATA_DIR / "celery-broker"
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # Seconds between looks at the queue folder: a build starts this soon after it is queued.
        "polling_interval": 0.1,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Stopping (SIGTERM, with REMAP_SIGTERM=SIGQUIT as `make run` and compose start the worker):
# running tasks get this many seconds to finish, then go back to the queue (acks late) for
# another worker; builds start over cleanly. Beat wakes every second, so it stops at once too.
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 3.0
CELERY_BEAT_MAX_LOOP_INTERVAL = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "requeue-stalled-builds": {
        "task": "distribution.requeue_stalled_builds",
        "schedule": 300.0,
    },
    "expire-uploads": {
        "task": "distribution.expire_uploads",
        "schedule": 600.0,
    },
    "purge-retired-files": {
        "task": "distribution.purge_retired_files",
        "schedule": 3600.0,
    },
    "purge-audit-log": {
        "task": "distribution.purge_audit_log",
        "schedule": 3600.0,
    },
    # With REDIS_URL the swarm statistics wait in Redis until this task moves
    # them to the database (without it, runtracker flushes its own).
    "flush-tracker-statistics": {
        "task": "tracker.flush_statistics",
        "schedule": float(FANOUT_TRACKER_STATS_FLUSH_SECONDS),
    },
}
FANOUT_BUILD_STALL_SECONDS = env_int("FANOUT_BUILD_STALL_SECONDS", 900, minimum=60)

# The read-only API (distribution/api.py): sessions as on the pages, the schema by drf-spectacular.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "distribution.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fanout API",
    "DESCRIPTION": (
        "Releases distributed over BitTorrent: the catalogue, and publishing from scripts and CI. "
        "Authenticate with `Authorization: Bearer <token>` (an API token from /account/tokens/)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "distribution.openapi.add_error_answers",
    ],
    # /api/docs/ draws the schema with Swagger UI from npm (package-lock.json), not from a CDN.
    "SWAGGER_UI_DIST": f"/{STATIC_URL}vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": f"/{STATIC_URL}vendor/swagger-ui/favicon-32x32.png",
}

# Every record is written by the one handler, whose filter redacts the passkeys and node
# credentials in request paths (config/log_redaction.py). Django's own handlers for the
# "django" and "django.server" loggers, which write "Not Found: <path>" and request lines
# past that filter, are replaced by it: naming a logger here drops its handlers.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_credentials": {"()": "config.log_redaction.RedactCredentials"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_credentials"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"propagate": True},
        "django.server": {"propagate": True},
        # django-axes tells of every sign-in at INFO; lockouts come at WARNING.
        "axes": {"level": "WARNING"},
    },
}
