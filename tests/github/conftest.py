"""Fixtures: a real simulator on a free port, and the real client pointed at it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    import integrations  # noqa: F401
except ImportError:  # run without pytest-django, which puts the project root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from integrations.github.client import GitHubApp, GitHubClient
from simulator.testing import RunningSimulator, running_simulator


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(seed=1, size="3x3x20") as running:
        yield running


@pytest.fixture
def app(sim: RunningSimulator) -> GitHubApp:
    return GitHubApp(
        base_url=sim.url,
        app_id=sim.app_id,
        private_key=sim.private_key_pem,
        timeout=(1, 5),
        backoff_base=0.01,
    )


@pytest.fixture
def make_client(app: GitHubApp) -> Callable[..., GitHubClient]:
    def make(installation_id: int = 1001, **kwargs: Any) -> GitHubClient:
        kwargs.setdefault("timeout", (1, 5))
        kwargs.setdefault("backoff_base", 0.01)
        return GitHubClient(app=app, installation_id=installation_id, **kwargs)

    return make


@pytest.fixture
def client(make_client: Callable[..., GitHubClient]) -> GitHubClient:
    return make_client()
