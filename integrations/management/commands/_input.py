"""Argument checks shared by the integrations commands: bad input is a one-line
CommandError (non-zero exit, no traceback), never an argparse usage dump."""

from __future__ import annotations

from django.core.management.base import CommandError

from integrations.models import Installation
from integrations.services import github_int


def github_id_arg(value: str | int, what: str = "installation GitHub id") -> int:
    try:
        number = github_int(int(str(value).strip()))
    except ValueError:
        number = None
    if number is None:
        raise CommandError(f"{what} must be a positive number, not {value!r}")
    return number


def installations_by_github_id(values: list[str]) -> list[Installation]:
    """The installations named, in the order given; unknown ids are an error."""
    ids = list(dict.fromkeys(github_id_arg(value) for value in values))
    found = {row.github_id: row for row in Installation.objects.filter(github_id__in=ids)}
    missing = [str(github_id) for github_id in ids if github_id not in found]
    if missing:
        raise CommandError(f"unknown installation GitHub id: {', '.join(missing)}")
    return [found[github_id] for github_id in ids]


def describe(installation: Installation) -> str:
    return f"{installation.account_login} ({installation.github_id})"
