"""X-Hub-Signature-256 verification: HMAC-SHA256 of the raw body, hex, prefixed
`sha256=`, compared in constant time against the current then the previous secret
(so a secret can be rotated without dropping deliveries)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

PREFIX = "sha256="


def signature_for(body: bytes, secret: str) -> str:
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, header: str, secrets: Iterable[str]) -> bool:
    """True when `header` is the signature of `body` under any of `secrets`."""
    if not header.startswith(PREFIX):
        return False
    given = header.strip().encode("utf-8", "replace")
    return any(
        hmac.compare_digest(signature_for(body, secret).encode(), given) for secret in secrets
    )
