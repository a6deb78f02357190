"""A real Celery worker in a thread of the test process, for the few end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker
from django.db import connection
from kombu.asynchronous import set_event_loop

from config.celery import app as celery_app


@contextmanager
def running_worker(*, purge: bool = True, queues: tuple[str, ...] = ()) -> Iterator[None]:
    """A real worker on the broker of the run. Unless `purge` is false, messages earlier
    tests left (for rows that are gone) are purged first. Celery keeps the event loop
    (hub) of the first worker a process starts in a global and hands the closed one, with
    the old worker's timer, to every later worker (whose ETA tasks then never fire on
    Redis): each worker gets a fresh one. `queues` limits it to those queues (like
    `celery worker -Q`); by default it consumes every queue, as the demo's does."""
    if purge:
        celery_app.control.purge()
    set_event_loop(None)
    options = {"queues": list(queues)} if queues else {}
    with start_worker(
        celery_app,
        pool="solo",
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=10,
        **options,
    ):
        yield
    set_event_loop(None)
    connection.close()
