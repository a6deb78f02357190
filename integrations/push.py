"""Commits of a `push` payload. They have their own shape (`id`, `timestamp`,
`author{name, username}`, `message`, `url`) and no author ids, so they only fill in
commits ghsync has not seen yet: the REST backfill's richer row (author id, author
date) is never overwritten by a push."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from integrations.events import EventData, commit_event
from integrations.services import PayloadError, github_int


def push_commit_events(payload: Mapping[str, Any]) -> list[EventData]:
    """Events for the commits a push brought, `head_commit` included; an author whose
    username is the pusher (`sender`) gets the sender's GitHub id."""
    commits = payload.get("commits") or []
    if not isinstance(commits, list):
        raise PayloadError("push commits is not a list")
    head = payload.get("head_commit")
    items = [*commits, head] if isinstance(head, Mapping) else list(commits)
    raw_sender = payload.get("sender")
    sender: Mapping[str, Any] = raw_sender if isinstance(raw_sender, Mapping) else {}
    sender_login = str(sender.get("login") or "")
    sender_id = github_int(sender.get("id"))
    events: dict[str, EventData] = {}
    for item in items:
        if not isinstance(item, Mapping) or not item.get("id"):
            raise PayloadError("push commit without an id")
        event = commit_event(item)
        if sender_login and sender_id and event.actor_login == sender_login:
            event = replace(event, actor_github_id=sender_id)
        events.setdefault(event.github_id, event)
    return list(events.values())


def pushed_to_default_branch(payload: Mapping[str, Any], default_branch: str) -> bool:
    repository = payload.get("repository")
    branch = repository.get("default_branch") if isinstance(repository, Mapping) else None
    return payload.get("ref") == f"refs/heads/{branch or default_branch}" and not payload.get(
        "deleted"
    )
