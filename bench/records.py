"""What a tool stored, as ghsync's events, compared with the simulator's expected set.

The peers store GitHub objects (commits, pull requests, reviews, issues); ghsync
stores events. For a fair comparison both become event keys
`(repository full name, kind, github_id)`, on the four kinds every tool fetches:

    commit            -> commit (sha)
    pull request      -> pr_opened, pr_merged, or pr_closed (closed without merging)
    review            -> review_submitted (id)
    issue (not a PR)  -> issue_opened, issue_closed (number)

Every event an object implies is derived whatever its date; events outside the
window are true events a tool may keep ("extra"), never counted as missing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FOUR_KINDS = frozenset(
    {
        "commit",
        "pr_opened",
        "pr_merged",
        "pr_closed",
        "review_submitted",
        "issue_opened",
        "issue_closed",
    }
)
STREAMS = {"commits", "pulls", "reviews", "issues"}
# tap-github's stream names
STREAM_ALIASES = {"pull_requests": "pulls"}

_REPO_IN_URL = re.compile(r"/repos/([^/]+/[^/]+)/")
_PR_IN_URL = re.compile(r"/pulls/(\d+)")

Event = tuple[str, str, str]


def _repo(record: dict[str, Any]) -> str:
    if record.get("org") and record.get("repo"):
        return f"{record['org']}/{record['repo']}"
    for key in ("url", "pull_request_url"):
        found = _REPO_IN_URL.search(str(record.get(key) or ""))
        if found:
            return found.group(1)
    raise ValueError(f"no repository in record {sorted(record)}")


def _is_pull_request(record: dict[str, Any]) -> bool:
    return bool(record.get("pull_request")) or record.get("type") == "pull_request"


def object_key(stream: str, record: dict[str, Any]) -> tuple[str, str, str] | None:
    """The object's own identity (what a store would deduplicate on)."""
    repo = _repo(record)
    if stream == "commits":
        return (repo, stream, str(record["sha"]))
    if stream == "reviews":
        return (repo, stream, str(record["id"]))
    if stream == "pulls":
        return (repo, stream, str(record["number"]))
    if stream == "issues":
        if _is_pull_request(record):
            return None  # the issues list's copy of a pull request
        return (repo, stream, str(record["number"]))
    return None


def events_of(stream: str, record: dict[str, Any]) -> Iterator[Event]:
    repo = _repo(record)
    if stream == "commits":
        yield (repo, "commit", str(record["sha"]))
    elif stream == "pulls":
        number = str(record["number"])
        if record.get("created_at"):
            yield (repo, "pr_opened", number)
        if record.get("merged_at"):
            yield (repo, "pr_merged", number)
        elif record.get("closed_at"):
            yield (repo, "pr_closed", number)
    elif stream == "reviews":
        if record.get("submitted_at"):
            yield (repo, "review_submitted", str(record["id"]))
    elif stream == "issues" and not _is_pull_request(record):
        number = str(record["number"])
        if record.get("created_at"):
            yield (repo, "issue_opened", number)
        if record.get("closed_at"):
            yield (repo, "issue_closed", number)


@dataclass
class Stored:
    """What one tool stored: objects (peers) or events (ghsync)."""

    rows: int = 0  # objects/rows written, the four streams (issues that are PRs included)
    events: set[Event] = field(default_factory=set)
    duplicates: int = 0  # objects (or events) stored more than once
    rows_by_stream: Counter[str] = field(default_factory=Counter)

    def add_objects(self, items: Iterable[tuple[str, dict[str, Any]]]) -> Stored:
        seen: set[tuple[str, str, str]] = set()
        for stream, record in items:
            stream = STREAM_ALIASES.get(stream, stream)
            if stream not in STREAMS:
                continue
            self.rows += 1
            self.rows_by_stream[stream] += 1
            key = object_key(stream, record)
            if key is not None:
                if key in seen:
                    self.duplicates += 1
                seen.add(key)
            self.events.update(events_of(stream, record))
        return self

    def add_events(self, events: Iterable[Event]) -> Stored:
        for event in events:
            if event in self.events:
                self.duplicates += 1
            self.rows += 1
            self.rows_by_stream[event[1]] += 1
            self.events.add(event)
        return self


def read_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Lines of {"stream", "record"} (our peer scripts and the DuckDB export)."""
    if not path.exists():
        return
    with path.open() as fh:
        for line in fh:
            if line.strip():
                item = json.loads(line)
                yield item["stream"], item["record"]


def read_singer(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """RECORD messages of a Singer tap's stdout."""
    if not path.exists():
        return
    with path.open() as fh:
        for line in fh:
            if not line.startswith("{"):
                continue
            message = json.loads(line)
            if message.get("type") == "RECORD":
                yield message["stream"], message["record"]


def last_singer_state(path: Path) -> dict[str, Any] | None:
    state = None
    if path.exists():
        with path.open() as fh:
            for line in fh:
                if line.startswith("{") and '"STATE"' in line:
                    message = json.loads(line)
                    if message.get("type") == "STATE":
                        state = message["value"]
    return state


def compare(stored: Stored, expected: set[Event], true_events: set[Event]) -> dict[str, Any]:
    """Missing, extra (true, outside the window) and invented events, on the four kinds."""
    want = {e for e in expected if e[1] in FOUR_KINDS}
    got = {e for e in stored.events if e[1] in FOUR_KINDS}
    missing = want - got
    outside = got - want
    invented = outside - true_events
    return {
        "records": len(got),
        "rows": stored.rows,
        "expected": len(want),
        "missing": len(missing),
        "missing_by_kind": dict(Counter(kind for _, kind, _ in missing)),
        "extra_outside_window": len(outside - invented),
        "invented": len(invented),
        "duplicated": stored.duplicates,
    }
