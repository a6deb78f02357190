"""Start a real simulator for a test: `with running_simulator() as sim: ...`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .dataset import Dataset, generate
from .server import SimulatorServer

_keypair: tuple[str, str] | None = None


def generate_app_keypair() -> tuple[str, str]:
    """A fresh 2048-bit RSA key pair as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def shared_app_keypair() -> tuple[str, str]:
    """One key pair per process (key generation costs ~50 ms)."""
    global _keypair
    if _keypair is None:
        _keypair = generate_app_keypair()
    return _keypair


@dataclass
class RunningSimulator:
    url: str
    server: SimulatorServer
    private_key_pem: str
    public_key_pem: str
    app_id: int | str

    @property
    def dataset(self) -> Dataset:
        return self.server.dataset


@contextmanager
def running_simulator(
    *,
    seed: int = 1,
    size: str | tuple[int, int, int] = "2x3x20",
    app_id: int | str = 1,
    now: datetime | None = None,
    dataset: Dataset | None = None,
    dataset_options: dict[str, Any] | None = None,
    **server_options: Any,
) -> Iterator[RunningSimulator]:
    """A simulator on a free localhost port, served from a thread, stopped on exit.

    `dataset_options` go to `generate()` (e.g. {"empty_repos": False});
    `server_options` to `SimulatorServer` (budget, window_seconds, token_ttl,
    latency_ms, fault_rate, limit_status, ...).
    """
    private_pem, public_pem = shared_app_keypair()
    data = dataset or generate(seed, size, now=now, **(dataset_options or {}))
    server = SimulatorServer(
        data, app_id=app_id, public_key_pem=public_pem, host="127.0.0.1", port=0, **server_options
    )
    server.start()
    try:
        yield RunningSimulator(server.url, server, private_pem, public_pem, app_id)
    finally:
        server.stop()
