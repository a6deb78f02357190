"""`manage.py api_token USERNAME [--days N]`: a new API token for a user, printed once
(only its hash is stored). It expires after API_TOKEN_TTL_DAYS (90) or --days."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sync.tokens import UnknownUser, api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it (shown once; stored hashed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--days", type=int, default=None, help="lifetime in days (0: never expires)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] is not None and options["days"] < 0:
            raise CommandError("--days must be 0 or more")
        try:
            issued = api_token_create(username=options["username"], days=options["days"])
        except UnknownUser as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(issued.key)
        expiry = issued.expiry.isoformat() if issued.expiry else "never"
        self.stderr.write(f"expires: {expiry}; send it as 'Authorization: Token <key>'")
