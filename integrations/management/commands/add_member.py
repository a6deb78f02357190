"""manage.py add_member INSTALLATION_GITHUB_ID USERNAME [--role owner|viewer]"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from integrations.management.commands._input import describe, github_id_arg
from integrations.models import MemberRole
from integrations.services import InvalidMember, UnknownInstallation, UnknownUser, member_add


class Command(BaseCommand):
    help = "Give a user access to an installation (or change their role)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("installation_id", metavar="INSTALLATION_GITHUB_ID")
        parser.add_argument("username", metavar="USERNAME")
        parser.add_argument(
            "--role", default=MemberRole.VIEWER, help="owner or viewer (default: viewer)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        github_id = github_id_arg(options["installation_id"])
        role = str(options["role"]).strip().lower()
        if role not in MemberRole.values:
            raise CommandError(f"--role must be owner or viewer, not {options['role']!r}")
        try:
            member = member_add(
                installation_github_id=github_id, username=options["username"], role=role
            )
        except (UnknownInstallation, UnknownUser, InvalidMember) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{member.user} is now {member.role} of {describe(member.installation)}")
