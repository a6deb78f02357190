"""structlog configuration (SPEC §9): JSON lines in production, a readable console in
development. Context (request id, delivery id, job id, installation id) is bound
with contextvars and merged into every line.

structlog and the standard library (Django, Celery, urllib3…) share one handler, so
every line in production is JSON. Secrets never reach a log: values under sensitive
keys are replaced, and tokens, JWTs and PEM private keys are scrubbed from any text,
exception tracebacks included."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"

_SENSITIVE_KEY = re.compile(
    r"(^|_)(token|access_token|authorization|private_key|secret|password|passwd|jwt|"
    r"api_key|cookie|signature)($|_)",
    re.I,
)
_SECRET_PATTERNS = (
    # PEM private keys (also when the newlines were escaped as a literal \n).
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
    # GitHub tokens: installation, personal, OAuth, user-to-server, refresh, fine-grained.
    re.compile(r"\b(?:ghs|ghp|gho|ghu|ghr)_[A-Za-z0-9_-]{16,}|\bgithub_pat_[A-Za-z0-9_-]{20,}"),
    # JWTs (the App's RS256 tokens).
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),
    # Authorization header values.
    re.compile(r"\b(?:Bearer|token)\s+[A-Za-z0-9._~+/=-]{16,}", re.I),
)


def scrub(text: str) -> str:
    """`text` with every token, JWT and private key replaced by [redacted]."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _redact_value(key: str, value: Any, depth: int = 0) -> Any:
    if _SENSITIVE_KEY.search(key) and value not in (None, "", False):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if depth < 3 and isinstance(value, Mapping):
        return {str(k): _redact_value(str(k), v, depth + 1) for k, v in value.items()}
    if depth < 3 and isinstance(value, list | tuple):
        return [_redact_value("", v, depth + 1) for v in value]
    return value


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the last line of defence against a secret in a log."""
    for key in list(event_dict):
        if key.startswith("_") or key == "exc_info":
            continue
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def configure_logging(*, log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library once, at settings import.

    `log_format` is "json" (production) or "console" (development)."""
    level_no = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    pre_chain: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
    ]
    renderer: structlog.typing.Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *pre_chain,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level_no)
    # Chatty libraries stay at WARNING unless asked for DEBUG explicitly.
    for name in ("urllib3", "kombu", "amqp", "celery.worker.strategy"):
        logging.getLogger(name).setLevel(max(level_no, logging.WARNING))
