"""Typed readers for environment variables, so settings.py reads as a table."""

import os


def env_str(name: str, default: str = "") -> str:
    """The variable's value; the default when it is unset or blank."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be a boolean (true/false), got {raw!r}")


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (case-insensitive); anything else refuses to start, naming them."""
    value = env_str(name, default).lower()
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {os.environ[name]!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_pair(name: str) -> tuple[str, str] | None:
    """ "HEADER,value" as a pair (SECURE_PROXY_SSL_HEADER); None when unset."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    parts = [item.strip() for item in raw.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"{name} must be HEADER,value (e.g. HTTP_X_FORWARDED_PROTO,https)")
    return parts[0], parts[1]
