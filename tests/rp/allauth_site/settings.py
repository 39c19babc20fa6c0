"""A minimal Django site whose only way in is django-allauth's OpenID Connect provider, pointed at
a running Ostiary (tests/rp/allauth_rp.py drives it in-process with django.test.Client).

The app is configured here, not in the database, the way many deployments do it. Environment:
ISSUER CLIENT_ID CLIENT_SECRET, and DJANGO_DB (the SQLite file for Django's own tables).
"""
import os

SECRET_KEY = "allauth-rp-test-only"
DEBUG = False
# The test client presents itself as 127.0.0.1:8000, so allauth's callback is a loopback http
# URL, which Ostiary accepts as a redirect URI. Nothing listens there.
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
ROOT_URLCONF = "allauth_site.urls"
SITE_ID = 1

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB", ":memory:"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Cheap hashing: the RP never stores a password here, but signup code may hash an unusable one.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LOGIN_REDIRECT_URL = "/whoami/"

# The first login through Ostiary creates the Django user, no form in between.
ACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_EMAIL_REQUIRED = False
SOCIALACCOUNT_QUERY_EMAIL = True
# Records allauth's outgoing HTTP and its authentication errors for the test's messages.
SOCIALACCOUNT_ADAPTER = "allauth_site.adapter.RecordingAdapter"
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10

SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "APPS": [
            {
                "provider_id": "ostiary",
                "name": "Ostiary",
                "client_id": os.environ.get("CLIENT_ID", ""),
                "secret": os.environ.get("CLIENT_SECRET", ""),
                # Nothing but the issuer: allauth reads discovery for everything else,
                # including how to authenticate at the token endpoint.
                "settings": {"server_url": os.environ.get("ISSUER", "")},
            }
        ]
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
