"""Counted words, said one way everywhere (pure: the policy imports it)."""


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`plural(12, "repository", "repositories")` → "12 repositories"; the plural
    defaults to `singular + "s"`. Thousands are grouped: "1,234 events"."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count:,} {word}"


def partial_failure_message(count: int) -> str:
    """What a person reads after a job that could not sync `count` repositories (SPEC
    §5, §7), and the raw `last_sync_error` the worker stores for it. Built from the
    count, never parsed back."""
    return f"{plural(count, 'repository', 'repositories')} could not be synced"
