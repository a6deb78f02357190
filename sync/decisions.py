"""What the interfaces that ask for a sync from a person (the Sync now button, the
API, the admin action) share: who asked, and the level of the message that tells them
the decision (the words come from `sync.policy.user_message`)."""

from django.contrib import messages
from django.contrib.auth.models import AnonymousUser, User

from sync.policy import Action, SyncDecision

DECISION_LEVELS = {Action.START: messages.SUCCESS, Action.SKIP: messages.INFO}


def decision_level(decision: SyncDecision) -> int:
    """Started: success; skipped: info; blocked: warning."""
    return DECISION_LEVELS.get(decision.action, messages.WARNING)


def signed_in(user: User | AnonymousUser) -> User | None:
    """The actor a caller records on the job: the signed-in user, or nobody."""
    return user if isinstance(user, User) else None
