"""`manage.py create_api_token --email USER [--name NAME]`: an API token for operators.

The secret is printed once, alone on standard output (so scripts can capture
it); what it is for goes to standard error. Only the secret's hash is stored.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from konto.accounts.models import User
from konto.accounts.permissions import has_any_billing_permission
from konto.accounts.services.tokens import create_api_token
from konto.core.audit import Actor
from konto.core.exceptions import KontoError

DEFAULT_NAME = "Created by an operator"


class Command(BaseCommand):
    help = "Create an API token acting as an org user and print its secret once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True, help="Email address of the org user the token acts as.")
        parser.add_argument(
            "--name", default=DEFAULT_NAME, help=f"Name shown in My Account's token list (default: {DEFAULT_NAME!r})."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = str(options["email"]).strip().lower()
        user = User.objects.select_related("org").filter(email=email).first()
        if user is None:
            raise CommandError(f"No user has the email address {email!r}.")
        if user.org is None:
            raise CommandError(f"{email} is vendor staff; API tokens act as users of a customer org.")
        if not user.is_active:
            raise CommandError(f"{email} is deactivated; reactivate the user in My Account first.")
        try:
            token, secret = create_api_token(
                org=user.org, user=user, actor=Actor.system("manage.py create_api_token"), name=options["name"]
            )
        except KontoError as error:
            raise CommandError(str(error.message)) from error
        self.stderr.write(
            f"Created API token {token.public_id} “{token.name}” for {email} ({user.org.legal_name}). "
            "The secret below is shown only this once; only its hash is stored."
        )
        if not has_any_billing_permission(user):
            self.stderr.write(
                self.style.WARNING(f"{email} has no billing permission: the API will refuse this token (403).")
            )
        self.stdout.write(secret)
