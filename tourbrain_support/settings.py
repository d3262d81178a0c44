"""Settings for the TourBrain Support portal.

Every value comes from the environment (django-environ, `.env` optional). The
defaults run the portal on an embedded setup (SQLite, a filesystem broker) with no
servers; production points DATABASE_URL at PostgreSQL and CELERY_BROKER_URL at Redis.
"""

import re
from pathlib import Path

import environ
from celery.schedules import crontab
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var")))
if env.str("PYTEST_XDIST_WORKER", default=""):
    # Tests in parallel (pytest -n): each worker process gets its own broker folder, spool and media.
    DATA_DIR = DATA_DIR / "xdist" / env.str("PYTEST_XDIST_WORKER")
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local development).")
    SECRET_KEY = "insecure-development-key-only-used-with-debug"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Proxies whose X-Forwarded-For hop we trust; the client IP is the rightmost hop not in this list.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=["127.0.0.1", "::1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "simple_history",
    "csp",
    "tourbrain_support",
    "tourbrain_support.notifications",
    "tourbrain_support.alerting",
    "tourbrain_support.oncall",
    "tickets",
    "audit",
    "kpis",
    "knowledge_base",
]

MIDDLEWARE = [
    "tourbrain_support.middleware.RequestContextMiddleware",
    # Outside everything that reads the database: turns its failure into a 503 (JSON on the API).
    "tourbrain_support.middleware.DatabaseUnavailableMiddleware",
    "tourbrain_support.metrics.PrometheusMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # CORS only for the widget API (CORS_URLS_REGEX); before anything that may answer on its own.
    "corsheaders.middleware.CorsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Response headers first, so every answer carries them (also the refusals just below).
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tourbrain_support.middleware.NoStoreMiddleware",
    # Oversized or too deeply nested bodies are refused here, before sessions, CSRF and authentication.
    "tourbrain_support.middleware.RequestBodyGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.security.SecurityCounterMiddleware",
    "audit.middleware.PermissionDeniedAuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "tourbrain_support.urls"
WSGI_APPLICATION = "tourbrain_support.wsgi.application"

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
                "tourbrain_support.context_processors.navigation",
                "csp.context_processors.nonce",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process, the worker and beat write to this one file. WAL lets readers go on beside a writer;
    # the timeout is how long a writer waits for another's lock; IMMEDIATE makes every transaction.atomic()
    # take the write lock when it begins, so it waits there. (A deferred one that reads first and then writes
    # cannot wait: SQLite answers "database is locked" at once, whatever the timeout.)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The test database is a file too: an in-memory one is a single connection that the live server's thread
    # shares with the test's thread, and two threads on one SQLite connection race ("cannot start a transaction
    # within a transaction" when a browser request and the test's own query meet).
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", str(DATA_DIR / "test-db.sqlite3"))
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # An unreachable server answers 503 within DATABASE_CONNECT_TIMEOUT (psycopg's floor is 2 s) instead of
    # hanging; keepalives drop a pooled connection to a host that went away; a restarted server is reconnected
    # to at the next request (health check) instead of failing it.
    DATABASES["default"].setdefault("OPTIONS", {})
    for option, value in {
        "connect_timeout": env.int("DATABASE_CONNECT_TIMEOUT", default=2),
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        # A query sent to a host that vanished fails after 10 s without an acknowledgement (milliseconds).
        "tcp_user_timeout": 10000,
    }.items():
        DATABASES["default"]["OPTIONS"].setdefault(option, value)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Django's backend, with a health check that sends no query while the connection is quiet.
    DATABASES["default"]["ENGINE"] = "tourbrain_support.postgresql"
# PostgreSQL: the few statements of the hot paths (audit insert, widget identity and intake) are server-side
# prepared; off behind a transaction-pooling proxy without prepared statements. AUDIT_PREPARED_STATEMENTS was
# this setting's earlier name and is still read.
DATABASE_PREPARED_STATEMENTS = env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=env.bool("AUDIT_PREPARED_STATEMENTS", default=True)
)
# Retry-After (seconds) of the 503 answered while the database is unreachable.
DATABASE_UNAVAILABLE_RETRY_AFTER = 5

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tourbrain_support.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Logins go through the lockout (per account and per IP, exponential backoff); see audit/security.py.
AUTHENTICATION_BACKENDS = ["audit.security.LockoutModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
BUSINESS_TIMEZONE = env.str("BUSINESS_TIMEZONE", default="Europe/London")
BUSINESS_COUNTRY = env.str("BUSINESS_COUNTRY", default="GB")
# Tickets: SLA warning share, reopen window, auto-close, attachment limits.
SLA_WARNING_SHARE = env.float("SLA_WARNING_SHARE", default=0.75)
TICKET_REOPEN_WINDOW_DAYS = env.int("TICKET_REOPEN_WINDOW_DAYS", default=7)
TICKET_AUTO_CLOSE_DAYS = env.int("TICKET_AUTO_CLOSE_DAYS", default=7)
TICKET_ATTACHMENT_MAX_BYTES = env.int("TICKET_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
TICKET_ATTACHMENT_MAX_COUNT = env.int("TICKET_ATTACHMENT_MAX_COUNT", default=5)
TICKET_ATTACHMENT_TYPES = env.list(
    "TICKET_ATTACHMENT_TYPES",
    default=["image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain", "text/csv", "application/json"],
)

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Security: safe by default, relaxed only with DEBUG.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Request bodies (see tourbrain_support/middleware.py): JSON and forms up to this size, else 413;
# uploads up to TICKET_ATTACHMENT_MAX_BYTES x TICKET_ATTACHMENT_MAX_COUNT plus this.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2621440)
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=32)
# Content-Security-Policy (django-csp): scripts and styles only from us or with the response's nonce, no
# inline code, never framed (a view that must be framed uses csp.decorators.csp_replace), privacy-enhanced
# video embeds only, violations reported to /csp-report/ (logged and counted).
VIDEO_EMBED_ORIGINS = env.list(
    "VIDEO_EMBED_ORIGINS", default=["https://www.youtube-nocookie.com", "https://player.vimeo.com"]
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", csp_constants.NONCE],
        "style-src": ["'self'", csp_constants.NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": VIDEO_EMBED_ORIGINS,
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "report-uri": "/csp-report/",
    },
}
# Body limit of the CSP report endpoint (a report is well under 4 KB; a reports+json batch a few).
SECURITY_REPORT_MAX_BYTES = 64 * 1024
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
    # Load balancers probe over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Email
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
SUPPORT_EMAIL = env.str("SUPPORT_EMAIL", default="support@tourbrain.ai")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=SUPPORT_EMAIL)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Reply-To of customer mail: a per-ticket plus-address, so a reply finds its ticket ({reference} = TB-000123).
_support_local, _, _support_domain = SUPPORT_EMAIL.partition("@")
SUPPORT_REPLY_TO_TEMPLATE = env.str(
    "SUPPORT_REPLY_TO_TEMPLATE", default=f"{_support_local}+{{reference}}@{_support_domain or 'localhost'}"
)
# Inbound email: the largest message taken (bigger ones are quarantined) and messages per sender per hour.
EMAIL_INBOUND_MAX_BYTES = env.int("EMAIL_INBOUND_MAX_BYTES", default=30 * 1024 * 1024)
EMAIL_INBOUND_RATE_LIMIT = env.int("EMAIL_INBOUND_RATE_LIMIT", default=20)
# Messages of an mbox or maildir filed per transaction by `ingest_email` (1: one transaction per message).
EMAIL_INGEST_BATCH = env.int("EMAIL_INGEST_BATCH", default=100)
# Mailbox the IMAP poller reads (imaps://user:pass@host:993/INBOX); empty: no polling.
IMAP_URL = env.str("IMAP_URL", default="")
# Where processed mail is moved; empty: it stays in the folder, flagged as seen.
IMAP_PROCESSED_FOLDER = env.str("IMAP_PROCESSED_FOLDER", default="Processed")
IMAP_POLL_SECONDS = env.int("IMAP_POLL_SECONDS", default=60)
IMAP_BATCH = env.int("IMAP_BATCH", default=200)
# Satisfaction surveys: how long their signed links work, and the NPS schedule.
CSAT_LINK_DAYS = env.int("CSAT_LINK_DAYS", default=30)
NPS_FIRST_DAYS = env.int("NPS_FIRST_DAYS", default=30)
NPS_INTERVAL_DAYS = env.int("NPS_INTERVAL_DAYS", default=90)
NPS_LINK_DAYS = env.int("NPS_LINK_DAYS", default=30)
BETA_FEEDBACK_LINK_DAYS = env.int("BETA_FEEDBACK_LINK_DAYS", default=14)
# Provider inbound webhooks (tickets/email_webhooks.py): each is off (404) until its secret is set.
MAILGUN_WEBHOOK_SIGNING_KEY = env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default="")
EMAIL_INBOUND_WEBHOOK_SECRET = env.str("EMAIL_INBOUND_WEBHOOK_SECRET", default="")  # "user:password"

SLACK_WEBHOOK_URL = env.str("SLACK_WEBHOOK_URL", default="")
# Named Slack channels, each an incoming-webhook URL: "alerts=https://hooks.slack.com/...,status=https://...".
# A message names its channel (alerts, status, beta-support, ...); a name without a webhook here goes to
# "default" (SLACK_WEBHOOK_URL). Empty values are ignored.
SLACK_WEBHOOKS = {
    name: url for name, url in {"default": SLACK_WEBHOOK_URL, **env.dict("SLACK_WEBHOOKS", default={})}.items() if url
}
# Where each delivery channel's processor keeps the data (ISO country); a delivery to a processor
# outside our region is logged as a cross-border transfer (GDPR). Empty = same region, nothing logged.
SLACK_COUNTRY = env.str("SLACK_COUNTRY", default="US")
EMAIL_PROVIDER_COUNTRY = env.str("EMAIL_PROVIDER_COUNTRY", default="")
SENTRY_COUNTRY = env.str("SENTRY_COUNTRY", default="US")
SMS_PROVIDER_COUNTRY = env.str("SMS_PROVIDER_COUNTRY", default="US")
CROSS_BORDER_PROCESSORS = {
    "slack": {"recipient": "slack", "country": SLACK_COUNTRY, "legal_basis": "dpf"},
    "email": {"recipient": "email_provider", "country": EMAIL_PROVIDER_COUNTRY, "legal_basis": "scc"},
    # Error reports (tourbrain_support.sentry logs each event sent).
    "sentry": {"recipient": "sentry", "country": SENTRY_COUNTRY, "legal_basis": "dpf"},
    # Pages by SMS (tourbrain_support.oncall): the phone number and the alert's title.
    "sms": {
        "recipient": "sms_provider",
        "country": env.str("SMS_PROVIDER_COUNTRY", default="US"),
        "legal_basis": "dpf",
    },
}
# Absolute base of links in notifications (e.g. the ticket's page in an SLA email).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Notification outbox: attempts per message, backoff (exponential with jitter), send timeout, sending lease.
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)
OUTBOX_RETRY_BASE_SECONDS = env.float("OUTBOX_RETRY_BASE_SECONDS", default=30.0)
OUTBOX_RETRY_MAX_SECONDS = 3600.0
OUTBOX_SEND_TIMEOUT = env.float("OUTBOX_SEND_TIMEOUT", default=10.0)
# The launch checklist's test deliveries: the test email's recipient (default SUPPORT_EMAIL) and the bound on
# each check that has no timeout of its own (the Sentry test event's flush, SMTP without EMAIL_TIMEOUT).
LAUNCH_CHECK_EMAIL_TO = env.str("LAUNCH_CHECK_EMAIL_TO", default="")
LAUNCH_CHECK_TIMEOUT = env.float("LAUNCH_CHECK_TIMEOUT", default=10.0)
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=300)
# Messages per delivery task when a burst is enqueued at once (each task reuses one SMTP connection).
OUTBOX_TASK_CHUNK = 50
# Sent messages marked sent per statement. 1 (default): each is marked right after its send, so a worker killed
# mid-batch resends at most the message it was sending. More (e.g. 25): about 3.5x the throughput, but a killed
# worker resends up to a group of messages it had already sent (see outbox.py).
OUTBOX_RECORD_GROUP = env.int("OUTBOX_RECORD_GROUP", default=1)
# After a publish fails (broker down), writes skip publishing for this long; the periodic delivery takes over.
BROKER_PUBLISH_PAUSE_SECONDS = env.float("BROKER_PUBLISH_PAUSE_SECONDS", default=10.0)
# Customer portal sign-in links (minutes valid; links asked for per address and per client IP per hour)
# and beta-cohort invitations (days an acceptance link is valid).
PORTAL_LOGIN_LINK_MINUTES = env.int("PORTAL_LOGIN_LINK_MINUTES", default=30)
PORTAL_LOGIN_LINK_RATE = env.int("PORTAL_LOGIN_LINK_RATE", default=3)
PORTAL_LOGIN_LINK_IP_RATE = env.int("PORTAL_LOGIN_LINK_IP_RATE", default=20)
BETA_INVITATION_DAYS = env.int("BETA_INVITATION_DAYS", default=14)
# Widget API (/api/v1/widget/): token verification (tourbrain_support.widget_auth), CORS, limits.
WIDGET_JWT_SECRET = env.str("WIDGET_JWT_SECRET", default="")
if DEBUG and not WIDGET_JWT_SECRET:
    # Lets /widget/demo/ sign and the widget API verify demo tokens under `make run`; never used without DEBUG.
    WIDGET_JWT_SECRET = "insecure-widget-demo-secret-only-used-with-debug"  # noqa: S105
WIDGET_JWKS_URL = env.str("WIDGET_JWKS_URL", default="")
WIDGET_JWT_ISSUER = env.str("WIDGET_JWT_ISSUER", default="")
WIDGET_JWT_AUDIENCE = env.str("WIDGET_JWT_AUDIENCE", default="")
WIDGET_JWT_LEEWAY_SECONDS = env.int("WIDGET_JWT_LEEWAY_SECONDS", default=10)
WIDGET_JWKS_TIMEOUT_SECONDS = env.float("WIDGET_JWKS_TIMEOUT_SECONDS", default=5.0)
WIDGET_JWKS_CACHE_SECONDS = env.int("WIDGET_JWKS_CACHE_SECONDS", default=300)
# Minimum seconds between two refetches of the JWKS caused by unknown key ids (a flood cannot hammer it).
WIDGET_JWKS_COOLDOWN_SECONDS = env.float("WIDGET_JWKS_COOLDOWN_SECONDS", default=30.0)
# TourBrain's web origins: CORS allow-list of the widget API, and the accepted `azp` of Clerk tokens.
WIDGET_ALLOWED_ORIGINS = env.list("WIDGET_ALLOWED_ORIGINS", default=[])
WIDGET_THROTTLE_USER = env.str("WIDGET_THROTTLE_USER", default="120/min")
WIDGET_THROTTLE_IP = env.str("WIDGET_THROTTLE_IP", default="600/min")
for _name in ("WIDGET_THROTTLE_USER", "WIDGET_THROTTLE_IP"):
    if not re.fullmatch(r"\d+/([1-9]\d*)?(s|sec|second|m|min|minute|h|hour|d|day)s?", globals()[_name]):
        raise ImproperlyConfigured(f"{_name} must be a rate like 120/min (n/sec, n/min, n/hour, n/day).")
# The widget's throttles (django-ratelimit): a count that cannot be read back lets the request through.
RATELIMIT_FAIL_OPEN = True
# Largest request body without files; multipart bodies may add the attachment limits on top.
WIDGET_MAX_BODY_BYTES = env.int("WIDGET_MAX_BODY_BYTES", default=256 * 1024)
# PostgreSQL: a widget ticket (without files) is accepted in one INSERT and filed by a worker moments later
# (tickets/intake.py); off, or on SQLite, the request files it itself.
WIDGET_BACKGROUND_FILING = env.bool("WIDGET_BACKGROUND_FILING", default=True)
CORS_ALLOWED_ORIGINS = WIDGET_ALLOWED_ORIGINS
CORS_URLS_REGEX = r"^/api/v1/widget/.*$"
CORS_ALLOW_CREDENTIALS = False  # bearer tokens, never cookies
CORS_ALLOW_HEADERS = ("accept", "authorization", "content-type", "idempotency-key")
CORS_EXPOSE_HEADERS = ("Retry-After",)
CORS_PREFLIGHT_MAX_AGE = 600

# Redis (cache, rate limits) — optional; the embedded default uses the local-memory cache.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "tourbrain_support.cache.ReusedClientRedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# KPI request samples pass from the web processes to the Celery worker through a cache, so it must be shared
# between processes: Redis when configured, else files under DATA_DIR (the embedded default).
CACHES["kpi_samples"] = (
    {"BACKEND": "tourbrain_support.cache.ReusedClientRedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(DATA_DIR / "kpi-samples")}
)

# Celery: the filesystem transport needs no server, so `make run` runs a real worker and beat.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(BROKER_DIR / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Kombu's Redis transport, fixed so a Redis outage while a task is unacknowledged does not end the worker.
    CELERY_BROKER_TRANSPORT = "tourbrain_support.broker:Transport"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Apps add their periodic jobs here; beat stores them in the database on start.
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "tourbrain_support.tasks.worker_heartbeat", "schedule": 30.0},
    "tickets-sla-sweep": {"task": "tickets.tasks.sla_sweep", "schedule": 60.0},
    "tickets-auto-close": {"task": "tickets.tasks.tickets_auto_close", "schedule": 3600.0},
    "tickets-widget-intake-file": {"task": "tickets.tasks.widget_intake_file", "schedule": 60.0},
    "deliver-pending-outbox": {
        "task": "tourbrain_support.notifications.tasks.deliver_pending_outbox",
        "schedule": 30.0,
    },
    "tickets-nps-surveys": {"task": "tickets.tasks.nps_surveys_send", "schedule": crontab(minute=0, hour=9)},
    "tickets-imap-poll": {"task": "tickets.tasks.imap_poll", "schedule": float(IMAP_POLL_SECONDS)},
}
# /readyz reports the worker stale when its last heartbeat is older than this.
WORKER_HEARTBEAT_MAX_AGE = env.int("WORKER_HEARTBEAT_MAX_AGE", default=120)

# Immutable audit trail: checkpoint signing key (base64 raw Ed25519 seed; else a 0600 key file in DATA_DIR),
# where checkpoints are also written outside the database, and how long a row may wait unsealed.
AUDIT_SIGNING_KEY = env.str("AUDIT_SIGNING_KEY", default="")
AUDIT_VERIFY_PUBLIC_KEYS = env.list("AUDIT_VERIFY_PUBLIC_KEYS", default=[])
AUDIT_CHECKPOINT_DIR = env.str("AUDIT_CHECKPOINT_DIR", default=str(DATA_DIR / "audit-checkpoints"))
AUDIT_ARCHIVE_DIR = env.str("AUDIT_ARCHIVE_DIR", default=str(DATA_DIR / "audit-archive"))
AUDIT_MAX_UNSEALED_SECONDS = env.int("AUDIT_MAX_UNSEALED_SECONDS", default=300)
AUDIT_SEAL_INTERVAL_SECONDS = env.float("AUDIT_SEAL_INTERVAL_SECONDS", default=2.0)
AUDIT_SEAL_BATCH_ROWS = 10000
AUDIT_SEAL_WAIT_SECONDS = 1.5  # below the interval, so runs never pile up behind a long transaction
# Bearer token for POST /api/v1/audit/deployments/ (CI/CD); empty disables the API.
DEPLOY_API_TOKEN = env.str("DEPLOY_API_TOKEN", default="")
# Vercel deployment webhook secret (x-vercel-signature): a failed or rolled-back production deploy freezes shipping.
VERCEL_WEBHOOK_SECRET = env.str("VERCEL_WEBHOOK_SECRET", default="")
CELERY_BEAT_SCHEDULE.update(
    {
        "audit-seal": {"task": "audit.tasks.audit_seal", "schedule": AUDIT_SEAL_INTERVAL_SECONDS},
        "audit-verify-daily": {"task": "audit.tasks.audit_verify_scheduled", "schedule": 24 * 3600.0},
    }
)

# On-call paging (tourbrain_support.oncall): minutes before an unacknowledged page goes to the next level,
# hours a signed acknowledge link in a page's email/SMS works, and the SMS provider (a Twilio-compatible
# HTTP API: POST {SMS_API_URL}/Accounts/{SMS_ACCOUNT_SID}/Messages.json); empty URL: no SMS.
ONCALL_ESCALATE_MINUTES = env.int("ONCALL_ESCALATE_MINUTES", default=5)
ONCALL_LINK_HOURS = env.int("ONCALL_LINK_HOURS", default=24)
SMS_API_URL = env.str("SMS_API_URL", default="").rstrip("/")
SMS_ACCOUNT_SID = env.str("SMS_ACCOUNT_SID", default="")
SMS_AUTH_TOKEN = env.str("SMS_AUTH_TOKEN", default="")
SMS_FROM = env.str("SMS_FROM", default="")
CELERY_BEAT_SCHEDULE["oncall-escalate"] = {"task": "tourbrain_support.oncall.tasks.pages_escalate", "schedule": 60.0}

# Launch KPIs (kpis app): project API keys accepted besides the ProjectApiKey rows, ingestion limits
# (413 above them), how old an event may be, and the nightly rollup (UTC).
KPI_PROJECT_API_KEYS = env.list("KPI_PROJECT_API_KEYS", default=[])
KPI_MAX_BODY_BYTES = env.int("KPI_MAX_BODY_BYTES", default=2 * 1024 * 1024)
KPI_MAX_DECOMPRESSED_BYTES = env.int("KPI_MAX_DECOMPRESSED_BYTES", default=8 * 1024 * 1024)
KPI_MAX_BATCH_EVENTS = env.int("KPI_MAX_BATCH_EVENTS", default=1000)
KPI_EVENT_RETENTION_DAYS = env.int("KPI_EVENT_RETENTION_DAYS", default=730)
# PostgreSQL: monthly event partitions made this many months ahead by the daily maintenance job.
KPI_EVENT_PARTITIONS_AHEAD = env.int("KPI_EVENT_PARTITIONS_AHEAD", default=3)
# Web origins whose pages may send to the capture paths (CORS, kpis.cors); "*" allows any origin, as PostHog does.
KPI_CAPTURE_ALLOWED_ORIGINS = env.list("KPI_CAPTURE_ALLOWED_ORIGINS", default=WIDGET_ALLOWED_ORIGINS)
CELERY_BEAT_SCHEDULE["kpis-rollup-nightly"] = {
    "task": "kpis.tasks.kpi_rollup_nightly",
    "schedule": crontab(minute=30, hour=0),
}
# Health samples: the share of this portal's requests sampled (kept in memory, handed to the cache in chunks,
# stored by a beat task), the Vercel log drain's secrets, the token of the OpenAI usage API, retention.
KPI_REQUEST_SAMPLE_RATE = env.float("KPI_REQUEST_SAMPLE_RATE", default=0.1)
KPI_REQUEST_SAMPLE_BUFFER = env.int("KPI_REQUEST_SAMPLE_BUFFER", default=200)
KPI_REQUEST_SAMPLE_FLUSH_SECONDS = env.float("KPI_REQUEST_SAMPLE_FLUSH_SECONDS", default=10.0)
VERCEL_LOG_DRAIN_SECRET = env.str("VERCEL_LOG_DRAIN_SECRET", default="")
VERCEL_LOG_DRAIN_VERIFY = env.str("VERCEL_LOG_DRAIN_VERIFY", default="")
KPI_HEALTH_API_TOKEN = env.str("KPI_HEALTH_API_TOKEN", default="")
KPI_HEALTH_RETENTION_DAYS = env.int("KPI_HEALTH_RETENTION_DAYS", default=400)
CELERY_BEAT_SCHEDULE["kpis-events-partitions"] = {
    "task": "kpis.tasks.kpi_events_partitions_maintain",
    "schedule": crontab(minute=5, hour=0),
}
CELERY_BEAT_SCHEDULE["kpis-health-samples-drain"] = {
    "task": "kpis.tasks.kpi_health_samples_drain",
    "schedule": 30.0,
}
CELERY_BEAT_SCHEDULE["kpis-health-samples-prune"] = {
    "task": "kpis.tasks.kpi_health_samples_prune",
    "schedule": crontab(minute=10, hour=0),
}

# Security, GDPR and backups (audit app).
LOGIN_LOCKOUT_ACCOUNT_THRESHOLD = env.int("LOGIN_LOCKOUT_ACCOUNT_THRESHOLD", default=5)
LOGIN_LOCKOUT_IP_THRESHOLD = env.int("LOGIN_LOCKOUT_IP_THRESHOLD", default=20)
LOGIN_LOCKOUT_WINDOW_SECONDS = env.int("LOGIN_LOCKOUT_WINDOW_SECONDS", default=900)
LOGIN_LOCKOUT_BASE_SECONDS = env.int("LOGIN_LOCKOUT_BASE_SECONDS", default=60)
LOGIN_LOCKOUT_MAX_SECONDS = env.int("LOGIN_LOCKOUT_MAX_SECONDS", default=86400)
SECURITY_BURST_THRESHOLD = env.int("SECURITY_BURST_THRESHOLD", default=20)
EXPORT_OUTLIER_FACTOR = env.float("EXPORT_OUTLIER_FACTOR", default=3.0)
EXPORT_OUTLIER_MIN = env.int("EXPORT_OUTLIER_MIN", default=5)
GDPR_REMINDER_DAYS = env.int("GDPR_REMINDER_DAYS", default=7)
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(DATA_DIR / "backups")))
BACKUP_KEEP = env.int("BACKUP_KEEP", default=14)
BACKUP_RTO_SECONDS = env.int("BACKUP_RTO_SECONDS", default=4 * 3600)
CELERY_BEAT_SCHEDULE.update(
    {
        # Daily backup + verify; the restore drill task runs daily and acts once every 30 days.
        "audit-backup-daily": {"task": "audit.tasks.backup_daily", "schedule": 24 * 3600.0},
        "audit-restore-drill": {"task": "audit.tasks.backup_restore_drill", "schedule": 24 * 3600.0},
        "audit-gdpr-reminders": {"task": "audit.tasks.gdpr_reminders", "schedule": 24 * 3600.0},
    }
)

# Alerting (core): probes and rule evaluation every minute. ALERT_HTTP_PROBES: JSON list of
# {"name", "url", "method", "expected_status", "timeout_seconds", "degraded_after_ms", "json_field", "json_expected"}
# besides the probes edited in the admin; the run waits at most ALERT_PROBE_DEADLINE_SECONDS for all of them.
ALERT_HTTP_PROBES = env.json("ALERT_HTTP_PROBES", default=[])
ALERT_PROBE_TIMEOUT_SECONDS = env.float("ALERT_PROBE_TIMEOUT_SECONDS", default=3.0)
ALERT_PROBE_DEADLINE_SECONDS = env.float("ALERT_PROBE_DEADLINE_SECONDS", default=10.0)
ALERT_PROBE_RETENTION_DAYS = env.int("ALERT_PROBE_RETENTION_DAYS", default=90)
ALERT_ONCALL_EMAILS = env.list("ALERT_ONCALL_EMAILS", default=[])
CELERY_BEAT_SCHEDULE["alerting-tick"] = {"task": "tourbrain_support.alerting.tasks.alert_tick", "schedule": 60.0}

# Knowledge base: cached page views are written to the articles, and deflections decided, every minute;
# the typo vocabulary is rebuilt nightly (the save trigger only adds words).
CELERY_BEAT_SCHEDULE.update(
    {
        "kb-view-counts-flush": {"task": "knowledge_base.tasks.kb_view_counts_flush", "schedule": 60.0},
        "kb-count-deflections": {"task": "knowledge_base.tasks.kb_count_deflections", "schedule": 60.0},
        "kb-vocabulary-rebuild": {
            "task": "knowledge_base.tasks.kb_vocabulary_rebuild",
            "schedule": crontab(minute=15, hour=3),
        },
    }
)

# REST framework
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tourbrain_support.authentication.PortalSessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "tourbrain_support.api.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "tourbrain_support.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TourBrain Support API",
    "DESCRIPTION": "Staff API (session auth) and the end-user widget API (JWT).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation documents its error answers ({"error": {...}}), see tourbrain_support/schema.py.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tourbrain_support.schema.document_error_responses",
    ],
}

# Sentry
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production")
SENTRY_RELEASE = env.str("SENTRY_RELEASE", default="")
SENTRY_SEND_PII = env.bool("SENTRY_SEND_PII", default=False)
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
# Each event sent is spooled here (JSON lines, fsync'd) before it is logged as a transfer; drained every minute.
SENTRY_TRANSFER_SPOOL = DATA_DIR / "sentry-transfers.jsonl"
CELERY_BEAT_SCHEDULE["sentry-transfer-log-drain"] = {
    "task": "tourbrain_support.tasks.sentry_transfer_log_drain",
    "schedule": 60.0,
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_JSON = env.bool("LOG_JSON", default=not DEBUG)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "tourbrain_support.logging.RequestContextFilter"}},
    "formatters": {
        "json": {"()": "tourbrain_support.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_context"],
            "formatter": "json" if LOG_JSON else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
    },
}

from tourbrain_support.sentry import init_sentry  # noqa: E402

init_sentry(
    dsn=SENTRY_DSN,
    environment=SENTRY_ENVIRONMENT,
    release=SENTRY_RELEASE,
    send_default_pii=SENTRY_SEND_PII,
    traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
)
