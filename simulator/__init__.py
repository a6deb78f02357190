"""A GitHub REST and GraphQL API simulator: a real HTTP peer for tests, the demo and benchmarks.

No Django import anywhere in this package.
"""

from .activity import add_activity
from .dataset import Dataset, generate
from .expectations import all_true_events, expected_events, min_requests
from .server import SimulatorServer
from .testing import generate_app_keypair, running_simulator

__all__ = [
    "Dataset",
    "SimulatorServer",
    "add_activity",
    "all_true_events",
    "expected_events",
    "generate",
    "generate_app_keypair",
    "min_requests",
    "running_simulator",
]
