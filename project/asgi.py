"""ASGI entry point; the lifespan wrapper closes the NATS connection on shutdown."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from walnats_django.asgi import with_lifespan

application = with_lifespan(get_asgi_application())
