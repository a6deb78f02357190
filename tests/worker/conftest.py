"""Fixtures for the worker: a real simulator over HTTP, ghsync configured to use it, and
the simulator's installations mirrored as rows (as the webhooks or reconcile would)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from simulator.testing import RunningSimulator, running_simulator
from tests.worker.support import World, mirror_dataset

SettingsWrapper = Any  # pytest-django's `settings` fixture


@pytest.fixture
def start_world(settings: SettingsWrapper) -> Iterator[Callable[..., World]]:
    """`start_world(size=..., **simulator_options)`: a running simulator, the settings
    pointing at it, and its installations and repositories as rows."""
    with ExitStack() as stack:

        def start(*, size: str = "1x3x12", seed: int = 7, **options: Any) -> World:
            sim: RunningSimulator = stack.enter_context(
                running_simulator(seed=seed, size=size, **options)
            )
            settings.GITHUB_API_URL = sim.url
            settings.GITHUB_APP_ID = str(sim.app_id)
            settings.GITHUB_APP_PRIVATE_KEY = sim.private_key_pem
            return World(sim, mirror_dataset(sim))

        yield start


@pytest.fixture
def fast_settings(settings: SettingsWrapper) -> SettingsWrapper:
    """Worker timings for tests: no slices unless a test asks, a short lease."""
    settings.SYNC_SLICE_SECONDS = 600
    settings.SYNC_LEASE_SECONDS = 30
    settings.SYNC_MAX_ATTEMPTS = 5
    settings.SYNC_MIN_BUDGET = 100
    return settings


@pytest.fixture
def rest_only(settings: SettingsWrapper) -> SettingsWrapper:
    """`SYNC_GRAPHQL=off`: the REST path alone, for tests of its own mechanics (requests
    counted, ETags and 304s, the REST budget and its reserve)."""
    settings.SYNC_GRAPHQL = "off"
    return settings
