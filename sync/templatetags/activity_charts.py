"""Template filters of the Activity page: links that may only go to the web, and
durations in words."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django import template

register = template.Library()


@register.filter
def web_link(url: str | None) -> str:
    """`url` when it is an http(s) address, else "" (a stored `javascript:` URL must
    never become a link)."""
    text = str(url or "").strip()
    try:
        scheme = urlsplit(text).scheme.lower()
    except ValueError:
        return ""
    return text if scheme in ("http", "https") and "//" in text else ""


@register.filter
def duration(value: timedelta | None) -> str:
    """ "3 d 4 h", "5 h 20 min", "12 min", "under a minute"; "—" when unknown."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else "under a minute"
