"""Settings of the example project; every value can come from the environment."""

import importlib.util
import os
import warnings
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-example-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "walnats_django",
    # The transactional outbox (optional): outbox.emit(...) and `manage.py relayoutbox`.
    "walnats_django.outbox",
    "project.example",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's CSS/JS under uvicorn without DEBUG (runexample, compose, Docker).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
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
            ],
        },
    },
]
ASGI_APPLICATION = "project.asgi.application"
WSGI_APPLICATION = "project.wsgi.application"

# var/ (ignored by git) holds local state: the default SQLite database, runexample's NATS store.
VAR_DIR = BASE_DIR / "var"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if "DATABASE_URL" not in os.environ:
    # SQLite makes the file but not its directory: `migrate` on a fresh clone needs var/ to exist.
    VAR_DIR.mkdir(exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Serve straight from the apps' static folders: no collectstatic step for the example, so
# STATIC_ROOT (for a collectstatic run) may well not exist.
WHITENOISE_USE_FINDERS = True
warnings.filterwarnings("ignore", message="No directory at: .*static")  # WhiteNoise, about STATIC_ROOT
USE_TZ = True
TIME_ZONE = "UTC"

WALNATS = {
    # SERVERS defaults to the NATS_URL environment variable, else nats://127.0.0.1:4222.
    "REQUEST_TIMEOUT": env.float("WALNATS_REQUEST_TIMEOUT", default=4.0),
}
# REPLICAS only when WALNATS_REPLICAS is set (and not empty): a REPLICAS the project names scales
# every stream to it, an absent one gives new streams 1 and leaves existing streams as they are.
if env.str("WALNATS_REPLICAS", default=""):
    WALNATS["REPLICAS"] = env.int("WALNATS_REPLICAS")

# Django's Tasks API on walnats (walnats_django.tasks; on Django 5.2 through django-tasks, the "tasks"
# extra): `runactors` runs the queue, the admin shows it under "Task queues" and "Task results".
# Tasks: project/example/tasks.py. Images built without the extra (the Dockerfile) have no TASKS.
if importlib.util.find_spec("django_tasks") is not None:
    TASKS = {
        "default": {
            "BACKEND": "walnats_django.tasks.WalnatsBackend",
            "QUEUES": ["default"],
            "OPTIONS": {"RETRIES": 1, "RETRY_DELAY": [2.0]},
        }
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "walnats_django": {"handlers": ["console"], "level": env.str("WALNATS_LOG_LEVEL", default="INFO")},
        "project": {"handlers": ["console"], "level": "INFO"},
    },
}
