"""Run one command and measure it: wall time, exit status, peak memory of its process tree.

Memory, two ways, stdlib only:
- `peak_rss_mb`: the peak of the *sum* of resident memory over the process tree
  (the command, its descendants, and any extra roots such as an already running
  Celery worker), sampled from /proc every 50 ms;
- `max_process_rss_mb`: the largest single process, from `wait4`'s rusage of the
  command (the kernel's own figure, covering descendants it reaped).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Measured:
    wall_s: float
    exit_status: int | None  # None: killed after the timeout
    timed_out: bool
    peak_rss_mb: float
    max_process_rss_mb: float


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: split after the last ")"
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def tree_pids(roots: Iterable[int]) -> set[int]:
    children = _children_map()
    seen: set[int] = set()
    todo = [pid for pid in roots if pid]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(children.get(pid, ()))
    return seen


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_mb(roots: Iterable[int]) -> float:
    return sum(_rss_kb(pid) for pid in tree_pids(roots)) / 1024


class _Sampler(threading.Thread):
    def __init__(self, roots: Sequence[int], interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.roots = list(roots)
        self.interval = interval
        self.peak_kb = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            total = sum(_rss_kb(pid) for pid in tree_pids(self.roots))
            self.peak_kb = max(self.peak_kb, total)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def run_measured(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    stdout: Path,
    stderr: Path,
    timeout: float,
    extra_roots: Sequence[int] = (),
) -> Measured:
    """Run `cmd` to completion (or kill its process group after `timeout` seconds)."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), env=dict(env), cwd=cwd, stdout=out, stderr=err, start_new_session=True
        )
        sampler = _Sampler([proc.pid, *extra_roots])
        sampler.start()
        status: int | None = None
        timed_out = False
        max_rss_kb = 0
        deadline = started + timeout
        while True:
            pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                status = os.waitstatus_to_exitcode(wait_status)
                max_rss_kb = usage.ru_maxrss
                break
            if time.perf_counter() > deadline:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                _, wait_status, usage = os.wait4(proc.pid, 0)
                max_rss_kb = usage.ru_maxrss
                break
            time.sleep(0.01)
        wall = time.perf_counter() - started
        proc.returncode = status if status is not None else -9
        sampler.stop()
    return Measured(
        wall_s=round(wall, 3),
        exit_status=None if timed_out else status,
        timed_out=timed_out,
        peak_rss_mb=round(max(sampler.peak_kb, max_rss_kb) / 1024, 1),
        max_process_rss_mb=round(max_rss_kb / 1024, 1),
    )
