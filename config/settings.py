"""Sunbid settings: one module, every machine-specific value from the environment.

Embedded default (nothing set): SQLite under ``var/`` and the in-memory channel
layer, so ``make run`` works anywhere. Real deployment: ``DATABASE_URL`` for
PostgreSQL, ``REDIS_URL`` for the Redis channel layer and cache, ``DEBUG=0``,
``SECRET_KEY`` and ``ALLOWED_HOSTS`` (see README and docs/architecture.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_optional, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SUNBID_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", True)

_DEV_SECRET = "sunbid-development-only-secret-never-use-in-production-0123456789"
SECRET_KEY = env_optional("SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = _DEV_SECRET
elif not DEBUG and SECRET_KEY == _DEV_SECRET:
    raise ImproperlyConfigured("The development SECRET_KEY cannot be used with DEBUG off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "audit",
    "accounts",
    "tendering",
    "experts",
    "bidding",
    "opening",
    "evaluation",
    "finance",
    "award",
    "complaints",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # API tokens on /api/ only, replacing the session user (docs/keys.md).
    "accounts.middleware.ApiTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "core.middleware.DomainErrorMiddleware",
    # Axes last: it reads the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
_DEFAULT_DB_URL = f"sqlite:///{VAR_DIR / 'sunbid.sqlite3'}"
DATABASE_URL = env_str("DATABASE_URL", _DEFAULT_DB_URL)
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # BEGIN IMMEDIATE makes every atomic block take the write lock up front, so
    # the audit chain head is read and extended by one writer at a time.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests get a file, not Django's shared-cache in-memory database: shared
    # cache locks per table and fails concurrent writers at once ("database
    # table is locked") instead of letting BEGIN IMMEDIATE wait its turn, so
    # the audit chain's concurrency test could not run. The process id keeps
    # simultaneous test runs in one checkout apart.
    _db["TEST"] = {"NAME": str(VAR_DIR / f"test_sunbid_{os.getpid()}.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db.setdefault("OPTIONS", {})
    # Django leaves psycopg's prepared statements off, for connection poolers in transaction
    # mode. Connected straight to PostgreSQL, DB_PREPARE_THRESHOLD=5 has a statement run that
    # often on one connection (the audit append, docs/audit.md §5) parsed and planned once.
    _prepare_threshold = env_optional("DB_PREPARE_THRESHOLD")
    if _prepare_threshold is not None:
        _db["OPTIONS"]["prepare_threshold"] = env_int("DB_PREPARE_THRESHOLD", 5, minimum=0)
    _db["CONN_HEALTH_CHECKS"] = True
else:
    raise ImproperlyConfigured(f"Unsupported database engine {_db['ENGINE']}: use SQLite or PostgreSQL.")
DATABASES = {"default": _db}

# Audit appenders spread over this many strands on PostgreSQL, so that up to as
# many transactions append at once (docs/audit.md §5). SQLite has one writer
# at a time anyway: one strand. Changing it later is safe; a lower value
# leaves the higher strands as they are.
AUDIT_STRANDS = env_int("AUDIT_STRANDS", 16, minimum=1) if _db["ENGINE"] == "django.db.backends.postgresql" else 1
if AUDIT_STRANDS > 1024:
    raise ImproperlyConfigured("AUDIT_STRANDS must be at most 1024.")
# Signed checkpoints of the audit tree (docs/audit.md §11): the origin line and
# key name, where each is written outside the database, and how often one is
# made when nothing else made one.
AUDIT_LOG_ORIGIN = env_str("AUDIT_LOG_ORIGIN", "sunbid.localhost/audit")
if not AUDIT_LOG_ORIGIN or any(ch.isspace() or ch == "+" for ch in AUDIT_LOG_ORIGIN):
    raise ImproperlyConfigured("AUDIT_LOG_ORIGIN must be a name without spaces or '+', e.g. sunbid.example.cn/audit.")
AUDIT_CHECKPOINT_DIR = Path(env_str("AUDIT_CHECKPOINT_DIR", str(VAR_DIR / "checkpoints")))
AUDIT_CHECKPOINT_MINUTES = env_int("AUDIT_CHECKPOINT_MINUTES", 10, minimum=1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels and cache -----------------------------------------------------
REDIS_URL = env_optional("REDIS_URL")
if REDIS_URL:
    # Between server processes, room events travel over Redis (docs/realtime.md).
    # CHANNEL_LAYER picks how: "core" (channels_redis.core.RedisChannelLayer: a
    # sorted set per receiving process, bounded by CHANNEL_CAPACITY, messages
    # older than CHANNEL_EXPIRY seconds dropped) or "pubsub"
    # (channels_redis.pubsub.RedisPubSubChannelLayer: one PUBLISH per group
    # message, each process subscribed once per group; nothing is stored, so a
    # message sent while a process is not subscribed is gone). Either may lose a
    # message silently; the room does not depend on it (per-room seq, backlog).
    _CHANNEL_LAYER_BACKENDS = {
        "core": "channels_redis.core.RedisChannelLayer",
        "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    }
    _channel_layer = env_str("CHANNEL_LAYER", "core").strip().lower()
    if _channel_layer not in _CHANNEL_LAYER_BACKENDS:
        raise ImproperlyConfigured(f"CHANNEL_LAYER={_channel_layer!r} is not one of: core, pubsub.")
    _channel_config: dict = {
        # One pool per server process shared by all its sockets. redis-py's
        # asyncio pool does not wait at the cap: one command past it fails at
        # once ("Too many connections"), so the cap is far above what a process
        # uses (a few connections: one blocking receive, group changes, sends).
        "hosts": [
            {
                "address": REDIS_URL,
                "max_connections": env_int("REDIS_MAX_CONNECTIONS", 1000, minimum=10),
                # redis-py 8 reads with a 5 s timeout by default, exactly the 5 s
                # that the core layer's idle BZPOPMIN blocks: the read then fails
                # and takes the consumer, and its socket, down with it
                # (channels_redis#422). The timeout must stay well above 5 s.
                "socket_timeout": env_int("REDIS_SOCKET_TIMEOUT", 30, minimum=10),
                "socket_connect_timeout": 5,
                "socket_keepalive": True,
                "health_check_interval": 30,
            }
        ],
    }
    if _channel_layer == "core":
        _channel_config.update(
            {
                # Per channel, and on Redis per receiving process (all of one
                # process's sockets share one sorted set): past it group_send
                # skips the process and only logs at INFO.
                "capacity": env_int("CHANNEL_CAPACITY", 5000, minimum=100),
                "expiry": env_int("CHANNEL_EXPIRY", 60, minimum=10),
                # A socket stays in its room's group this long after joining;
                # longer than any ceremony (a reconnection joins again).
                "group_expiry": env_int("CHANNEL_GROUP_EXPIRY", 86400, minimum=3600),
            }
        )
    CHANNEL_LAYERS = {
        "default": {"BACKEND": _CHANNEL_LAYER_BACKENDS[_channel_layer], "CONFIG": _channel_config}
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "sunbid",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Tasks: timed steps (bid deadline, opening time) -------------------------
TASKS = {
    "default": {
        "BACKEND": env_str("TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

# --- Authentication ---------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:dashboard"
LOGOUT_REDIRECT_URL = "portal:index"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_IPWARE_PROXY_COUNT = env_int("PROXY_COUNT", 0, minimum=0)

SESSION_COOKIE_AGE = 8 * 3600

# --- Internationalisation ---------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
# The embedded default serves static files from the ASGI app itself; behind a
# real web server set SERVE_STATIC=0 and let it serve STATIC_ROOT.
SERVE_STATIC = env_bool("SERVE_STATIC", True)
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
TENDER_DOCUMENT_MAX_BYTES = env_int("TENDER_DOCUMENT_MAX_BYTES", 200 * 1024 * 1024, minimum=1024)
# Sealed bids (docs/bidding.md): the largest sealed file accepted, and the size of
# each part of the resumable upload (one storage object per part). A part is
# read through a spooled temporary file, never whole in memory.
BID_MAX_SIZE = env_int("BID_MAX_SIZE", 1024 * 1024 * 1024, minimum=1024)
BID_UPLOAD_PART_SIZE = env_int("BID_UPLOAD_PART_SIZE", 8 * 1024 * 1024, minimum=1024)
# Ed25519 private key (PEM) that signs bid receipts. Unset with DEBUG on: a
# development key is made under var/ on first use. Unset with DEBUG off: no
# receipt can be issued, so no bid is accepted (bidding.receipts says why).
RECEIPT_SIGNING_KEY = env_optional("RECEIPT_SIGNING_KEY") or (
    str(VAR_DIR / "receipt-signing-key.pem") if DEBUG else ""
)
RECEIPT_SIGNING_KEY_CREATE = DEBUG and not env_optional("RECEIPT_SIGNING_KEY")

# --- E-mail -----------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "阳光开标 <noreply@sunbid.localhost>")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

# --- Tendering rules (../shared/RULES.md), configurable where the rules allow --
SUNBID = {
    "AMENDMENT_MIN_DAYS": env_int("AMENDMENT_MIN_DAYS", 15, minimum=1),  # TR 21
    "BID_SECURITY_MAX_RATE": "0.02",  # TR 26
    "MIN_BIDDERS": 3,  # TR 44
    "DEFAULT_DECRYPTION_MINUTES": 30,  # EB 30
}
# The opening room (docs/opening-room.md): sign-in opens this long before the opening
# time; after the reading, bidders have this long to confirm or object (EB 39).
OPENING_ROOM = {
    "SIGN_IN_MINUTES": env_int("OPENING_SIGN_IN_MINUTES", 30, minimum=0),
    "CONFIRM_MINUTES": env_int("OPENING_CONFIRM_MINUTES", 15, minimum=1),
    # Each connection looks for new room events in the database this often (seconds; 0: never).
    # The in-memory channel layer does not cross processes, so on the embedded default the
    # events of the task worker (the opening, the windows' ends) reach sockets this way; with
    # Redis every process hears every broadcast and the poll stays off.
    "POLL_SECONDS": env_int("OPENING_POLL_SECONDS", 0 if REDIS_URL else 2, minimum=0),
}
# Expert draws (ER 12, TR 46): avoidance windows and answer time, configurable.
EXPERT_DRAW = {
    "RECENT_SAME_TENDERER_DAYS": env_int("EXPERT_RECENT_SAME_TENDERER_DAYS", 90, minimum=0),
    "MONTHLY_LIMIT": env_int("EXPERT_MONTHLY_LIMIT", 6, minimum=1),
    "RESPONSE_MINUTES": env_int("EXPERT_RESPONSE_MINUTES", 30, minimum=5),
}
# SMS and voice to drawn experts (docs/expert-notifications.md). The default records and sends nothing.
EXPERT_GATEWAY = env_str("EXPERT_GATEWAY", "experts.gateway.RecordingGateway")
EXPERT_GATEWAY_URL = env_str("EXPERT_GATEWAY_URL", "")
EXPERT_GATEWAY_TOKEN = env_str("EXPERT_GATEWAY_TOKEN", "")
EXPERT_GATEWAY_TIMEOUT = env_int("EXPERT_GATEWAY_TIMEOUT", 10, minimum=1)
EXPERT_GATEWAY_INBOUND_SECRET = env_str("EXPERT_GATEWAY_INBOUND_SECRET", "")
if EXPERT_GATEWAY == "experts.gateway.HttpGateway" and not (
    EXPERT_GATEWAY_URL and EXPERT_GATEWAY_TOKEN and EXPERT_GATEWAY_INBOUND_SECRET
):
    raise ImproperlyConfigured(
        "EXPERT_GATEWAY=experts.gateway.HttpGateway needs EXPERT_GATEWAY_URL, EXPERT_GATEWAY_TOKEN"
        " and EXPERT_GATEWAY_INBOUND_SECRET."
    )

# --- Security (production) --------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

LANGUAGE_COOKIE_NAME = "sunbid_language"
