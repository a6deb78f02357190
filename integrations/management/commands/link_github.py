"""manage.py link_github USERNAME --github-id N --github-login LOGIN"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from integrations.management.commands._input import describe, github_id_arg
from integrations.services import InvalidMember, UnknownUser, github_link


class Command(BaseCommand):
    help = (
        "Give a user the GitHub identity that webhooks' sender is matched against; they "
        "become owner of the installations they installed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username", metavar="USERNAME")
        parser.add_argument("--github-id", required=True, metavar="N")
        parser.add_argument("--github-login", required=True, metavar="LOGIN")

    def handle(self, *args: Any, **options: Any) -> None:
        github_id = github_id_arg(options["github_id"], "--github-id")
        try:
            link = github_link(
                username=options["username"],
                github_id=github_id,
                github_login=options["github_login"],
            )
        except (UnknownUser, InvalidMember) as exc:
            raise CommandError(str(exc)) from exc
        profile = link.profile
        self.stdout.write(
            f"{profile.user} is linked to GitHub user {profile.github_login} ({profile.github_id})"
        )
        for installation in link.owned:
            self.stdout.write(f"{profile.user} is now owner of {describe(installation)}")
