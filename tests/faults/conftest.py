"""Fixtures of the fault suite, and the plugin hooks that keep its figures table and
its logs: every log line of the run (this process, and the worker and web server
processes it starts) goes to files under var/faults/logs/, which the secrets sweep
(test_secrets.py, moved to the end of the session) greps at the end."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.faults.figures import FIGURES, figures_write
from tests.faults.infra import FAULTS_DIR_ENV
from tests.faults.support import Workers, faults_dir, log_dir, recording_simulator
from tests.worker.support import World, mirror_dataset

SettingsWrapper = Any


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The secrets sweep greps what every other test logged: it runs last."""
    last = [item for item in items if "tests/faults/test_secrets.py" in item.nodeid]
    if last:
        items[:] = [item for item in items if item not in last] + last


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if FIGURES:
        figures_write(faults_dir() / "figures.json")


@pytest.fixture(scope="session")
def faults_log_handler() -> Iterator[logging.Handler]:
    """One log file per test process: var/faults/logs/pytest-<pid>.log, rendered and
    redacted exactly as production renders its lines."""
    if not os.environ.get(FAULTS_DIR_ENV):  # make faults (run.py) starts a clean folder itself
        for old in log_dir().glob("*.log"):
            old.unlink()
    root = logging.getLogger()
    handler = logging.FileHandler(log_dir() / f"pytest-{os.getpid()}.log", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    if root.handlers and root.handlers[0].formatter is not None:
        handler.setFormatter(root.handlers[0].formatter)
    yield handler
    handler.close()


@pytest.fixture(autouse=True)
def faults_logs_to_file(faults_log_handler: logging.Handler) -> Iterator[None]:
    """During each fault test (only: the other areas' tests keep their logging), this
    process logs at DEBUG to the file; the console keeps its level."""
    root = logging.getLogger()
    previous = root.level
    console = [(handler, handler.level) for handler in root.handlers]
    for handler, level in console:
        handler.setLevel(max(level, previous))
    root.addHandler(faults_log_handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(faults_log_handler)
        root.setLevel(previous)
        for handler, level in console:
            handler.setLevel(level)
        faults_log_handler.flush()


@pytest.fixture
def workers() -> Iterator[Workers]:
    """Start real worker processes with `workers.start(env)`; all are stopped after the
    test (before its database is flushed)."""
    started = Workers()
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def sim_world(settings: SettingsWrapper) -> Iterator[Callable[..., World]]:
    """`sim_world(size=..., **simulator_options)`: a recording simulator, the settings
    pointing at it, and its installations mirrored as rows with an owner each."""
    with ExitStack() as stack:

        def start(*, size: str = "1x3x10", seed: int = 7, **options: Any) -> World:
            sim = stack.enter_context(recording_simulator(seed=seed, size=size, **options))
            settings.GITHUB_API_URL = sim.url
            settings.GITHUB_APP_ID = str(sim.app_id)
            settings.GITHUB_APP_PRIVATE_KEY = sim.private_key_pem
            settings.GITHUB_APP_PRIVATE_KEY_PATH = None
            return World(sim, mirror_dataset(sim))

        yield start
