"""Settings for Konto, read from the environment (see docs/operations.md)."""

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("KONTO_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = _env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and not _env_bool("KONTO_INSECURE_DEV_KEY", False):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=true for development).")
    SECRET_KEY = "konto-development-key-never-use-in-production"  # noqa: S105 - development only

ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",
    "django_tasks",
    "django_tasks_db",  # its tables exist whichever backend runs, so the schema never depends on KONTO_TASKS
    "konto.core",
    "konto.accounts",
    "konto.catalog",
    "konto.contracts",
    "konto.billing",
    "konto.payments",
    "konto.sandbox",
    "konto.portal",
    "konto.backoffice",
    "konto.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "konto.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "konto.urls"
WSGI_APPLICATION = "konto.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "konto.portal.context_processors.portal",
            ],
        },
    },
]

# Database: embedded SQLite by default, PostgreSQL through DATABASE_URL.
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'konto.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-konto.sqlite3")}

# Background tasks (django-tasks): run at enqueue in development and tests; KONTO_TASKS=db queues them in the
# database for `manage.py db_worker` processes (production, see docs/operations.md).
KONTO_TASKS = os.environ.get("KONTO_TASKS", "immediate").strip().lower()
if KONTO_TASKS not in {"immediate", "db"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("KONTO_TASKS must be 'immediate' or 'db'.")
TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks_db.DatabaseBackend"
            if KONTO_TASKS == "db"
            else "django_tasks.backends.immediate.ImmediateBackend"
        ),
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["konto.accounts.backends.ThrottledEmailBackend"]
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:overview"
LOGOUT_REDIRECT_URL = "portal:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24  # seconds; reset links live one day

# Sessions end after 12 hours without a request.
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = _env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Login throttling: an email + IP pair is locked after this many failures.
KONTO_LOGIN_MAX_FAILURES = 5
KONTO_LOGIN_LOCKOUT_SECONDS = 15 * 60
KONTO_INVITATION_TTL_SECONDS = 72 * 60 * 60
KONTO_IDENTITY_FREE_LICENSES = 100
KONTO_PRODUCT_NAME = os.environ.get("KONTO_PRODUCT_NAME", "Nimbus CRM")
KONTO_BASE_URL = os.environ.get("KONTO_BASE_URL", "http://127.0.0.1:8000")

# Dunning: org.suspended / org.reactivated go to the dunning schedule's webhook URL, signed with this secret
# (X-Konto-Signature: sha256=HMAC-SHA256 of the body). Without a secret no event is sent (docs/payments.md).
KONTO_WEBHOOK_SECRET = os.environ.get("KONTO_WEBHOOK_SECRET", "")

LANGUAGE_CODE = "de"
LANGUAGES = [("de", _("German")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "konto" / "locale"]
TIME_ZONE = "Europe/Berlin"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"

# Email: SMTP in production; files under var/mail in development and the demo.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.filebased.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Mein Account <billing@nimbus.example>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # factur-x logs every successful XSD check, pikepdf its start-up and django-tasks every task's start and end at
    # INFO; only problems are of interest.
    "loggers": {
        "factur-x": {"level": "WARNING"},
        "pikepdf": {"level": "WARNING"},
        "django_tasks": {"level": "WARNING"},
        # The stripe library logs every request at INFO and request bodies (IBANs of SEPA mandates) at DEBUG.
        "stripe": {"level": "WARNING"},
    },
}

# Payment gateways (docs/payments.md "Gateways"): the built-in sandbox (test cards, no money moves) by default,
# Stripe in production. STRIPE_API_BASE points the stripe library at another server (tests: a local one).
KONTO_PAYMENT_GATEWAY = os.environ.get("KONTO_PAYMENT_GATEWAY", "sandbox").strip().lower()
if KONTO_PAYMENT_GATEWAY not in {"sandbox", "stripe"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("KONTO_PAYMENT_GATEWAY must be 'sandbox' or 'stripe'.")
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")  # "whsec_…" of /payments/stripe/webhook/
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
STRIPE_MAX_NETWORK_RETRIES = int(os.environ.get("STRIPE_MAX_NETWORK_RETRIES", "2"))  # always with idempotency keys
STRIPE_TIMEOUT_SECONDS = float(os.environ.get("STRIPE_TIMEOUT_SECONDS", "30"))
if KONTO_PAYMENT_GATEWAY == "stripe" and not STRIPE_SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("KONTO_PAYMENT_GATEWAY=stripe needs STRIPE_SECRET_KEY.")
# The sandbox's pages and charges exist only where it is the gateway, unless switched on explicitly: a demo database
# moved to Stripe must never "charge" an old sandbox card.
KONTO_SANDBOX_ENABLED = _env_bool("KONTO_SANDBOX_ENABLED", KONTO_PAYMENT_GATEWAY == "sandbox")
