"""`make fresh-check`: every command the README documents, run in a fresh clone.

Clones this checkout's HEAD (committed work only) into a temporary directory, runs
`make install` and then each command there with a time limit, and prints one line per
command: command, passed/failed, seconds. `make demo` runs until it serves, so it
passes once it has printed its URL (its set-up is done) and its deep health check
(/api/health?deep=1) answers 200; then it is stopped
(SIGINT to its process group, as Ctrl-C would). Each command's output goes to
var/fresh-check/NAME.log in this checkout; the clone is removed at the end (--keep
keeps it).

    scripts/fresh_check.py                 every command
    scripts/fresh_check.py demo lint       some of them (`make` optional: "make demo")

Only the standard library: it runs before any .venv exists.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var" / "fresh-check"

# The README's commands, in the README's order, with their time limits (seconds).
# A command whose target the Makefile does not have (yet) is left out.
COMMANDS: dict[str, float] = {
    "demo": 600,
    "test": 2400,
    "lint": 900,
    "bench": 2700,
    "faults": 2700,
    "prod-check": 1200,
}
INSTALL_LIMIT = 900.0
READY_LINE = "ghsync is running: http"  # what the demo prints when its set-up is done
# Variables of the calling make or shell that a fresh shell would not have.
DROPPED_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV", "GHSYNC_VAR_DIR")


@dataclass
class Outcome:
    command: str
    passed: bool
    seconds: float
    note: str = ""

    def line(self) -> str:
        status = "passed" if self.passed else "failed"
        text = f"{self.command:<16} {status:<7} {self.seconds:8.1f}"
        return f"{text}  ({self.note})" if self.note else text


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def clone(into: Path) -> str:
    """A clone of HEAD at `into`; returns the commit."""
    head = git("rev-parse", "HEAD")
    git("clone", "--quiet", "--no-checkout", str(ROOT), str(into))
    git("checkout", "--quiet", "--detach", head, cwd=into)
    return head


def makefile_targets(checkout: Path) -> set[str]:
    text = (checkout / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, flags=re.MULTILINE))


def fresh_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port(start: int) -> int:
    for port in range(start, start + 500):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port from {start}")


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def stop_group(process: subprocess.Popen[bytes], first: int = signal.SIGINT) -> None:
    """Stop the command and everything it started in its process group: `first` (SIGINT,
    so Python's cleanup runs, like Ctrl-C), then SIGTERM, then SIGKILL."""
    for signum, grace in ((first, 30), (signal.SIGTERM, 15)):
        if process.poll() is not None:
            break
        _signal_group(process, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    _signal_group(process, signal.SIGKILL)  # anything left behind in the group
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def start(args: list[str], checkout: Path, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    try:
        return subprocess.Popen(
            args,
            cwd=checkout,
            env=fresh_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, to stop all of it
        )
    finally:
        log.close()


def run_make(target: str, checkout: Path, limit: float) -> Outcome:
    """`make TARGET` to completion; passed when it exits 0 within the limit."""
    started = time.monotonic()
    process = start(["make", target], checkout, LOGS / f"{target}.log")
    try:
        code = process.wait(timeout=limit)
        note = "" if code == 0 else f"exit {code}"
    except subprocess.TimeoutExpired:
        code, note = -1, f"over the {limit:.0f} s limit"
    finally:
        stop_group(process)
    return Outcome(f"make {target}", code == 0, time.monotonic() - started, note)


def health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - localhost
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def run_demo(checkout: Path, limit: float) -> Outcome:
    """`make demo` until it has printed its URL and its deep health check answers 200,
    then stopped."""
    started = time.monotonic()
    web, sim = free_port(8100), free_port(8800)
    url = f"http://127.0.0.1:{web}/api/health?deep=1"
    log_path = LOGS / "demo.log"
    process = start(
        ["make", "demo", f"DEMO_ARGS=--port {web} --simulator-port {sim}"], checkout, log_path
    )
    passed, note = False, ""
    try:
        deadline = started + limit
        while time.monotonic() < deadline:
            if process.poll() is not None:
                note = f"exited {process.returncode} before serving"
                break
            if READY_LINE in log_path.read_text(errors="replace") and health_ok(url):
                passed = True
                break
            time.sleep(1)
        else:
            note = f"not serving ({READY_LINE!r} and 200 from {url}) within {limit:.0f} s"
    finally:
        seconds = time.monotonic() - started
        stop_group(process)  # SIGINT to the group, as Ctrl-C in its terminal
    return Outcome("make demo", passed, seconds, note)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commands", nargs="*", help=f"some of: {' '.join(COMMANDS)}")
    parser.add_argument("--keep", action="store_true", help="keep the clone")
    args = parser.parse_args(argv)
    wanted = [c.removeprefix("make ").strip() for c in args.commands] or list(COMMANDS)
    unknown = [c for c in wanted if c not in COMMANDS]
    if unknown:
        parser.error(f"not a README command: {' '.join(unknown)} (known: {' '.join(COMMANDS)})")

    LOGS.mkdir(parents=True, exist_ok=True)
    for old in LOGS.glob("*.log"):
        old.unlink()
    parent = Path(tempfile.mkdtemp(prefix="ghsync-fresh-"))
    checkout = parent / "ghsync"
    outcomes: list[Outcome] = []
    try:
        try:
            head = clone(checkout)
        except subprocess.CalledProcessError as exc:
            print(f"git clone of {ROOT} failed: {exc.stderr.strip()}")
            return 1
        if git("status", "--porcelain", "--untracked-files=no"):
            print("note: uncommitted changes are not in the clone")
        targets = makefile_targets(checkout)
        print(f"fresh clone of {head[:12]} in {checkout}; logs in {LOGS}")
        print(f"{'command':<16} {'result':<7} {'seconds':>8}")
        sys.stdout.flush()
        outcomes = [run_make("install", checkout, INSTALL_LIMIT)]
        print(outcomes[-1].line(), flush=True)
        for name in wanted:
            if name not in targets:
                print(f"{'make ' + name:<16} (no such target in the Makefile: skipped)")
                continue
            if not outcomes[0].passed:
                outcome = Outcome(f"make {name}", False, 0.0, "make install failed")
            elif name == "demo":
                outcome = run_demo(checkout, COMMANDS[name])
            else:
                outcome = run_make(name, checkout, COMMANDS[name])
            outcomes.append(outcome)
            print(outcome.line(), flush=True)
    finally:
        if args.keep:
            print(f"clone kept in {checkout}")
        else:
            shutil.rmtree(parent, ignore_errors=True)
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
