"""Run MeltanoLabs' tap-github (1.30.1) against the simulator, as Meltano would.

Runs under the tap's own virtualenv: `python bench/peers/tap_github.py --config ...
--catalog ... [--state ...]`, arguments exactly as the `tap-github` CLI takes them, the
Singer messages on stdout.

One shim, and only because the tap needs it: it validates a personal token with a
hard-coded `https://api.github.com/rate_limit` (authenticator.TokenManager.is_valid_token),
whatever `api_url_base` says, so against any other host (GitHub Enterprise, the
simulator) the token is dismissed (or, with no route to api.github.com, the tap
crashes). The shim sends requests for `https://api.github.com` to `api_url_base`
instead; every other request is untouched.
"""

from __future__ import annotations

import json
import sys
from itertools import pairwise
from typing import Any

import requests

GITHUB = "https://api.github.com"


def _api_url_base(argv: list[str]) -> str | None:
    for flag, value in pairwise(argv):
        if flag == "--config":
            with open(value) as fh:
                return str(json.load(fh).get("api_url_base") or "") or None
    return None


def _redirect_github_com(base: str) -> None:
    original = requests.sessions.Session.request

    def request(self: requests.Session, method: str, url: str, *args: Any, **kw: Any) -> Any:
        if isinstance(url, str) and url.startswith(GITHUB):
            url = base.rstrip("/") + url[len(GITHUB) :]
        return original(self, method, url, *args, **kw)

    requests.sessions.Session.request = request  # type: ignore[method-assign,assignment]


def main() -> None:
    base = _api_url_base(sys.argv)
    if base:
        _redirect_github_com(base)
    from tap_github.tap import TapGitHub

    TapGitHub.cli()


if __name__ == "__main__":
    main()
