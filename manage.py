#!/usr/bin/env python
"""Django's command-line entry point for Konto."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "konto.settings")
    # Commands work without SECRET_KEY on a developer's machine; the web server (wsgi.py) never
    # falls back, so a deployment without SECRET_KEY refuses to serve.
    os.environ.setdefault("KONTO_INSECURE_DEV_KEY", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
