"""What a machine without the fault suite's tools sees: one line naming the missing tool
and its install command, never a traceback (scripts/ensure_system_tools.sh, which the
make targets run first, and the fault runner's own check)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.support import BASE_DIR

ENSURE = BASE_DIR / "scripts" / "ensure_system_tools.sh"


@pytest.fixture
def bare_path(tmp_path: Path) -> str:
    """A PATH with the shell utilities the script uses and nothing else."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "id", "ls", "sort", "tail"):
        found = next(Path(d) / tool for d in ("/usr/bin", "/bin") if (Path(d) / tool).exists())
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def _ensure(*args: str, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(ENSURE), *args],
        env={"PATH": path, "GHSYNC_NO_APT_INSTALL": "1", **env},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_a_missing_tool_is_one_line_with_its_install_command(bare_path: str) -> None:
    done = _ensure("make faults", "redis-server", path=bare_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "make faults needs redis-server: install with  sudo apt-get install redis-server"
    ]
    assert done.stderr == ""


def test_an_optional_tool_says_what_happens_without_it_and_succeeds(
    bare_path: str, tmp_path: Path
) -> None:
    done = _ensure(
        "--optional", "it uses DATABASE_URL", "make faults", "postgres-server",
        path=bare_path, GHSYNC_FAULTS_PG_BIN=str(tmp_path / "none"),
    )  # fmt: skip
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        "make faults without postgres-server: it uses DATABASE_URL"
        " (to add it:  sudo apt-get install postgresql)"
    ]


def test_present_tools_pass_silently(bare_path: str, tmp_path: Path) -> None:
    pg_bin = tmp_path / "pg"
    pg_bin.mkdir()
    for tool in ("initdb", "pg_ctl"):
        (pg_bin / tool).write_text("#!/bin/sh\n")
        (pg_bin / tool).chmod(0o755)
    done = _ensure(
        "make faults", "postgres-server", "python",
        path=bare_path, GHSYNC_FAULTS_PG_BIN=str(pg_bin), PYTHON=sys.executable,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_python_that_cannot_make_a_venv_is_named(bare_path: str, tmp_path: Path) -> None:
    old_python = tmp_path / "python2"
    old_python.write_text("#!/bin/sh\nexit 1\n")
    old_python.chmod(0o755)
    done = _ensure("make", "python", path=bare_path, PYTHON=str(old_python))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "make needs python: install with  sudo apt-get install python3.11 python3.11-venv"
    ]


def test_the_fault_runner_without_redis_prints_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = str(tmp_path)  # no redis-server, no redis-cli
    done = subprocess.run(
        [sys.executable, str(BASE_DIR / "tests" / "faults" / "run.py")],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        "make faults needs redis-server and redis-cli: sudo apt-get install redis-server"
    ]
    assert "Traceback" not in done.stderr
