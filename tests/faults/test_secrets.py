"""Scenario 8: secrets never reach a log. Runs last (conftest moves it): every log
line the fault run wrote (this process at DEBUG, the worker and web server processes
at DEBUG, Redis, PostgreSQL, the load generator) is grepped for every installation token and App JWT
the simulators issued, the App private key, the webhook secrets and API tokens.

It first runs syncs of its own through the paths most likely to leak, so that it
proves something even when it runs alone: a normal sync, one whose installation
tokens are revoked mid-run (401, refresh), and one whose App authentication fails."""

from __future__ import annotations

import logging
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sync.models import JobStatus
from sync.worker import Outcome
from tests.faults.figures import figure
from tests.faults.support import ISSUED, log_dir
from tests.worker.support import World, drive, start_job

SCENARIO = "8. Secrets in the logs"

pytestmark = pytest.mark.django_db(transaction=True)


def _grep(patterns: dict[str, str], where: Path) -> Counter[str]:
    """Hits per kind of secret: `grep -F` with every secret as a fixed string."""
    with tempfile.TemporaryDirectory(prefix="ghsync-secrets-") as tmp:
        listing = Path(tmp) / "patterns"
        listing.write_text("\n".join(patterns) + "\n")
        found = subprocess.run(
            ["grep", "-rhoF", "-f", str(listing), str(where)],
            capture_output=True, text=True, errors="replace", check=False,
        )  # fmt: skip
    assert found.returncode in (0, 1), found.stderr
    return Counter(patterns.get(hit, "secret") for hit in found.stdout.splitlines() if hit)


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def test_the_grep_finds_a_planted_secret(tmp_path: Path) -> None:
    """The sweep below can fail: a token written to a log file is found."""
    (tmp_path / "planted.log").write_text('{"event": "oops", "t": "ghs_PLANTED0123456789"}\n')
    hits = _grep({"ghs_PLANTED0123456789": "installation token"}, tmp_path)
    assert hits == Counter({"installation token": 1})


def test_no_token_jwt_or_key_the_simulators_issued_is_in_any_log(
    sim_world: Callable[..., World], settings: Any
) -> None:
    settings.SYNC_SLICE_SECONDS = 600
    world = sim_world(size="1x2x4", seed=31)
    installation = world.installation()
    assert drive(start_job(installation))[-1] == Outcome.COMPLETED
    world.sim.server.revoke_tokens()  # the cached token now answers 401: refresh once
    world.sim.server.add_activity("commit", installation_id=installation.github_id)
    assert drive(start_job(installation, full=True))[-1] == Outcome.COMPLETED
    world.sim.server.configure(auth_failure=True)  # every token refused: the job fails
    world.sim.server.revoke_tokens()
    failing = start_job(installation, full=True)
    assert drive(failing)[-1] == Outcome.FAILED
    assert installation.jobs.get(pk=failing).status == JobStatus.FAILED
    _flush_logs()

    patterns = ISSUED.patterns()
    files = [path for path in log_dir().rglob("*") if path.is_file()]
    hits = _grep(patterns, log_dir())
    size_mb = sum(path.stat().st_size for path in files) / 1e6
    figure(SCENARIO, "installation tokens / App JWTs issued",
           f"{len(ISSUED.tokens)} / {len(ISSUED.jwts)}")  # fmt: skip
    figure(SCENARIO, "log files grepped (MB)", f"{len(files)} ({size_mb:.1f})")
    figure(SCENARIO, "hits: installation tokens", hits["installation token"], required="0")
    figure(SCENARIO, "hits: App JWTs", hits["App JWT"] + hits["App JWT signature"], required="0")
    figure(SCENARIO, "hits: App private key", hits["App private key"], required="0")
    figure(SCENARIO, "hits: webhook secrets", hits["webhook secret"], required="0")
    assert ISSUED.tokens and ISSUED.jwts and ISSUED.private_keys
    assert hits == Counter(), hits
