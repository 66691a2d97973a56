"""WSGI entry point for Konto."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "konto.settings")
application = get_wsgi_application()
