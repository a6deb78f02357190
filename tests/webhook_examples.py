"""GitHub's own webhook payloads vendored under tests/data/github_webhooks/ (source,
version and license in the README there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent / "data" / "github_webhooks"


def github_example(name: str) -> dict[str, Any]:
    """The payload of `<event>/<file>.json`, e.g. "push/payload.json"."""
    payload: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return payload
