"""The peers: each a pinned PyPI package in its own virtualenv and the script a user of
that package would write. `bench/peers/*_peer.py` run under the peer's interpreter, never
ours; this module (ours) installs them, builds their command lines and reads what they
stored."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from bench.records import Stored, last_singer_state, read_jsonl, read_singer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@dataclass
class RunContext:
    """What every tool is told for one run."""

    api: str
    app_id: str
    private_key_path: Path
    installation_id: int
    org: str
    since: str  # ISO 8601, the window start
    run_dir: Path
    token: str | None = None  # minted by the bench for peers with no App auth
    previous_run_dir: Path | None = None  # the first run, when this is the second


class Peer:
    name: str
    venv_name: str
    requirements: tuple[str, ...]
    needs_token = False

    def __init__(self, venvs_dir: Path) -> None:
        self.venv = venvs_dir / self.venv_name

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def install(self) -> None:
        """Create the virtualenv and install the pinned packages, once (a marker file
        records what was installed; a second `make bench` reuses it)."""
        marker = self.venv / ".bench-installed"
        wanted = "\n".join(self.requirements)
        if marker.exists() and marker.read_text() == wanted and self.python.exists():
            return
        if not self.python.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(self.venv)], check=True)
        done = subprocess.run(
            [
                str(self.python),
                *("-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
                *self.requirements,
            ],
            capture_output=True,
        )
        (self.venv / "bench-install.log").write_bytes(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"pip install failed, see {self.venv / 'bench-install.log'}")
        self.after_install()
        marker.write_text(wanted)

    def after_install(self) -> None:
        return

    def command(self, ctx: RunContext) -> list[str]:
        raise NotImplementedError

    def stdout_name(self) -> str:
        return "stdout.log"

    def objects(self, run_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
        return read_jsonl(run_dir / "out.jsonl")

    def stored(self, ctx: RunContext) -> Stored:
        """What this run stored."""
        return Stored().add_objects(self.objects(ctx.run_dir))

    def accumulated(self, ctx: RunContext) -> Stored:
        """What the tool's store holds after this run (both runs, for a second run of a
        tool that only fetches what is new)."""
        return self.stored(ctx)


class TapGitHub(Peer):
    name = "tap-github"
    venv_name = "tap_github"
    requirements = ("meltanolabs-tap-github==1.30.1",)
    needs_token = True
    STREAMS = ("commits", "pull_requests", "reviews", "issues")

    @property
    def catalog_path(self) -> Path:
        return self.venv / "bench-catalog.json"

    def after_install(self) -> None:
        """Discover the catalog once and select the four streams (as `meltano select`)."""
        config = self.venv / "discover-config.json"
        config.write_text(json.dumps({"organizations": ["org"]}))
        found = subprocess.run(
            [
                str(self.python),
                str(HERE / "tap_github_peer.py"),
                "--config",
                str(config),
                "--discover",
            ],
            check=True,
            capture_output=True,
        )
        catalog = json.loads(found.stdout)
        for stream in catalog["streams"]:
            for entry in stream["metadata"]:
                if entry["breadcrumb"] == []:
                    entry["metadata"]["selected"] = stream["tap_stream_id"] in self.STREAMS
        self.catalog_path.write_text(json.dumps(catalog))

    def install(self) -> None:
        super().install()
        if not self.catalog_path.exists():
            self.after_install()

    def command(self, ctx: RunContext) -> list[str]:
        config = ctx.run_dir / "config.json"
        config.write_text(
            json.dumps(
                {
                    "api_url_base": ctx.api,
                    "auth_token": ctx.token,
                    "organizations": [ctx.org],
                    "start_date": ctx.since,
                }
            )
        )
        config.chmod(0o600)
        cmd = [str(self.python), str(HERE / "tap_github_peer.py"), "--config", str(config)]
        cmd += ["--catalog", str(self.catalog_path)]
        if ctx.previous_run_dir is not None:
            state = last_singer_state(ctx.previous_run_dir / self.stdout_name())
            if state is not None:
                (ctx.run_dir / "state.json").write_text(json.dumps(state))
                cmd += ["--state", str(ctx.run_dir / "state.json")]
        return cmd

    def stdout_name(self) -> str:
        return "out.singer.jsonl"

    def objects(self, run_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
        return read_singer(run_dir / self.stdout_name())

    def accumulated(self, ctx: RunContext) -> Stored:
        if ctx.previous_run_dir is None:
            return self.stored(ctx)
        items = chain(self.objects(ctx.previous_run_dir), self.objects(ctx.run_dir))
        return Stored().add_objects(items)


class Dlt(Peer):
    name = "dlt rest_api"
    venv_name = "dlt"
    requirements = ("dlt[duckdb]==1.31.0",)
    needs_token = True

    def workdir(self, ctx: RunContext) -> Path:
        return (ctx.previous_run_dir or ctx.run_dir) / "dlt"

    def command(self, ctx: RunContext) -> list[str]:
        return [
            str(self.python),
            str(HERE / "dlt_peer.py"),
            "--api",
            ctx.api,
            "--token",
            str(ctx.token),
            "--since",
            ctx.since,
            "--workdir",
            str(self.workdir(ctx)),
        ]

    def _export(self, ctx: RunContext) -> Path:
        out = ctx.run_dir / "export.jsonl"
        if not out.exists():
            subprocess.run(
                [
                    str(self.python),
                    str(HERE / "dlt_peer.py"),
                    *("--workdir", str(self.workdir(ctx)), "--export", str(out)),
                ],
                check=False,
                capture_output=True,
            )
        return out

    def stored(self, ctx: RunContext) -> Stored:
        # the DuckDB tables are the store: merged on primary keys, so both runs
        return Stored().add_objects(read_jsonl(self._export(ctx)))

    def accumulated(self, ctx: RunContext) -> Stored:
        return self.stored(ctx)


class PyGithub(Peer):
    name = "PyGithub"
    venv_name = "pygithub"
    requirements: tuple[str, ...] = ("PyGithub==2.10.0",)

    def command(self, ctx: RunContext) -> list[str]:
        return [
            str(self.python),
            str(HERE / "pygithub_peer.py"),
            "--api",
            ctx.api,
            "--app-id",
            ctx.app_id,
            "--private-key-path",
            str(ctx.private_key_path),
            "--installation-id",
            str(ctx.installation_id),
            "--since",
            ctx.since,
            "--out",
            str(ctx.run_dir / "out.jsonl"),
        ]


class Githubkit(PyGithub):
    name = "githubkit"
    venv_name = "githubkit"
    requirements = ("githubkit[auth-app]==0.16.1", "hishel<2")

    def command(self, ctx: RunContext) -> list[str]:
        cmd = super().command(ctx)
        cmd[1] = str(HERE / "githubkit_peer.py")
        return cmd


PEERS: tuple[type[Peer], ...] = (TapGitHub, Dlt, PyGithub, Githubkit)


def reset_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
