"""Management commands of SPEC §6: output formats, --json lines, and one-line errors
with a non-zero exit (call_command, and real `manage.py` processes)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from integrations.models import (
    GitHubProfile,
    Installation,
    InstallationMember,
    InstallationStatus,
    MemberRole,
    WebhookDelivery,
)
from sync.models import IngestionJob, JobStatus
from tests.dbenv import child_env
from tests.factories import make_installation, make_user
from tests.spec import STATUS_KEYS

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def run(*args: Any, **options: Any) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


# --------------------------------------------------------------------------- sync


def test_sync_prints_one_human_line_per_decision() -> None:
    ready = make_installation(github_id=7001, account_login="acme")
    ownerless = make_installation(github_id=7002, account_login="nobody", owner=False)
    out, _ = run("sync", "7001", "7002")
    lines = out.splitlines()
    job = IngestionJob.objects.get(installation=ready)
    assert lines == [
        f"acme (7001): Sync started (job {job.pk})",
        "nobody (7002): This installation has no owner yet",
    ]
    assert job.trigger == "admin"
    assert not IngestionJob.objects.filter(installation=ownerless).exists()


def test_sync_json_prints_one_object_per_line_with_the_decision() -> None:
    make_installation(github_id=7001)
    make_installation(github_id=7003, repos=0)
    out, _ = run("sync", "7001", "7003", "--json")
    first, second = (json.loads(line) for line in out.splitlines())
    job = IngestionJob.objects.get()
    assert first == {
        "installation_id": 7001,
        "action": "start",
        "reason": "ready",
        "message": "Sync started",
        "job_id": job.pk,
    }
    assert second == {
        "installation_id": 7003,
        "action": "block",
        "reason": "no_repositories",
        "message": "No repositories selected for sync",
        "job_id": None,
    }
    again, _ = run("sync", "7001", "--json")
    assert json.loads(again)["reason"] == "already_syncing"


def test_sync_all_covers_every_installation_and_full_widens_the_window() -> None:
    for github_id in (7011, 7012):
        make_installation(github_id=github_id, last_synced_at=timezone.now())
    out, _ = run("sync", "--all", "--full", "--json")
    assert [json.loads(line)["installation_id"] for line in out.splitlines()] == [7011, 7012]
    for job in IngestionJob.objects.all():
        assert job.full is True
        assert timezone.now() - job.since > timedelta(days=29)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["4242"], "unknown installation GitHub id: 4242"),
        (["abc"], "must be a positive number, not 'abc'"),
        ([], "give one or more installation GitHub ids, or --all"),
        (["7001", "--all"], "not both"),
    ],
)
def test_sync_rejects_bad_input_with_a_command_error(args: list[str], message: str) -> None:
    make_installation(github_id=7001)
    with pytest.raises(CommandError, match=message):
        run("sync", *args)
    assert not IngestionJob.objects.exists()


def _finish_job_soon(job_id: int, status: str) -> threading.Thread:
    def work() -> None:
        try:
            time.sleep(0.3)
            IngestionJob.objects.filter(pk=job_id).update(
                status=JobStatus.RUNNING,
                progress_current=1,
                events_ingested=12,
                current_repository="acme/repo-1",
            )
            time.sleep(0.3)
            IngestionJob.objects.filter(pk=job_id).update(
                status=status,
                progress_current=2,
                events_ingested=30,
                rest_requests=14,
                graphql_points=1,
                error="Job timed out" if status == JobStatus.FAILED else None,
            )
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_sync_wait_shows_progress_until_the_job_ends() -> None:
    make_installation(github_id=7001, account_login="acme")
    out, err = StringIO(), StringIO()
    finisher: list[threading.Thread] = []

    class Tee(StringIO):
        def write(self, text: str) -> int:
            if "Sync started" in text and not finisher:
                finisher.append(
                    _finish_job_soon(IngestionJob.objects.get().pk, JobStatus.COMPLETED)
                )
            return super().write(text)

    out = Tee()
    call_command("sync", "7001", "--wait", "--interval", "0.05", stdout=out, stderr=err)
    finisher[0].join()
    progress = err.getvalue().splitlines()
    assert "acme (7001) [------------------------] 0/2 repositories, 0 events, pending" in progress
    assert any("1/2 repositories, 12 events, running acme/repo-1" in line for line in progress)
    assert progress[-1] == (
        "acme (7001): completed, 2/2 repositories, 30 events, 14 REST requests, 1 GraphQL point"
    )
    assert "Sync started" in out.getvalue()


def test_sync_wait_exits_non_zero_when_the_job_fails() -> None:
    make_installation(github_id=7001, account_login="acme")
    request_out = StringIO()
    call_command("sync", "7001", stdout=request_out)
    job = IngestionJob.objects.get()
    IngestionJob.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED)  # let a new one start
    Installation.objects.filter(github_id=7001).update(sync_status="idle")
    finisher: list[threading.Thread] = []

    class Tee(StringIO):
        def write(self, text: str) -> int:
            if "Sync started" in text and not finisher:
                newest = IngestionJob.objects.order_by("-pk").first()
                assert newest is not None
                finisher.append(_finish_job_soon(newest.pk, JobStatus.FAILED))
            return super().write(text)

    err = StringIO()
    with pytest.raises(CommandError, match="1 sync job failed"):
        call_command("sync", "7001", "--wait", "--interval", "0.05", stdout=Tee(), stderr=err)
    finisher[0].join()
    assert err.getvalue().splitlines()[-1] == "acme (7001): failed (Job timed out)"


# --------------------------------------------------------------------------- sync_status


def test_sync_status_json_is_one_array_of_status_objects() -> None:
    make_installation(github_id=7001, account_login="acme")
    make_installation(github_id=7002, account_login="beta", owner=False)
    run("sync", "7001")
    out, _ = run("sync_status", "--json")
    statuses = json.loads(out)
    assert isinstance(statuses, list)
    assert [s["installation_id"] for s in statuses] == [7001, 7002]
    assert all(list(s) == STATUS_KEYS for s in statuses)
    acme, beta = statuses
    assert acme["state"] == "syncing"
    assert acme["can_sync_now"] is False
    assert acme["unavailable_reason"] == "Sync already in progress"
    assert beta["unavailable_reason"] == "This installation has no owner yet"


def test_sync_status_prints_a_line_per_installation() -> None:
    make_installation(github_id=7001, account_login="acme")
    out, _ = run("sync_status")
    assert out.startswith("acme (7001): idle; never synced; can sync now")
    Installation.objects.all().delete()
    assert run("sync_status", "--json")[0].strip() == "[]"


# --------------------------------------------------------------------------- members


def test_add_member_gives_a_user_access_and_changes_roles() -> None:
    installation = make_installation(github_id=7001, account_login="acme", owner=False)
    make_user("alice")
    out, _ = run("add_member", "7001", "alice")
    assert out.strip() == "alice is now viewer of acme (7001)"
    out, _ = run("add_member", "7001", "alice", "--role", "owner")
    assert out.strip() == "alice is now owner of acme (7001)"
    member = InstallationMember.objects.get(installation=installation)
    assert member.role == MemberRole.OWNER


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["4242", "alice"], "no installation with GitHub id 4242"),
        (["7001", "nobody"], "no user named 'nobody'"),
        (["7001", "alice", "--role", "admin"], "--role must be owner or viewer"),
        (["x7001", "alice"], "must be a positive number"),
    ],
)
def test_add_member_rejects_bad_input(args: list[str], message: str) -> None:
    make_installation(github_id=7001, owner=False)
    make_user("alice")
    with pytest.raises(CommandError, match=message):
        run("add_member", *args)
    assert not InstallationMember.objects.exists()


def test_link_github_sets_the_identity_and_owns_what_the_user_installed() -> None:
    installed = make_installation(github_id=7001, account_login="acme", owner=False)
    make_installation(github_id=7002, account_login="other", owner=False)
    WebhookDelivery.objects.create(
        delivery_id="earlier",
        event="installation",
        action="created",
        installation_github_id=7001,
        payload={"action": "created", "sender": {"id": 5555, "login": "octocat"}},
        status="processed",
    )
    make_user("alice")
    out, _ = run("link_github", "alice", "--github-id", "5555", "--github-login", "octocat")
    assert out.splitlines() == [
        "alice is linked to GitHub user octocat (5555)",
        "alice is now owner of acme (7001)",
    ]
    assert GitHubProfile.objects.get(user__username="alice").github_id == 5555
    assert list(InstallationMember.objects.values_list("installation", "role")) == [
        (installed.pk, MemberRole.OWNER)
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "--github-id", "1", "--github-login", "x"], "no user named 'nobody'"),
        (["alice", "--github-id", "abc", "--github-login", "x"], "--github-id must be a positive"),
        (["alice", "--github-id", "77", "--github-login", "x"], "already linked to bob"),
    ],
)
def test_link_github_rejects_bad_input(args: list[str], message: str) -> None:
    make_user("alice")
    GitHubProfile.objects.create(user=make_user("bob"), github_id=77, github_login="bob")
    with pytest.raises(CommandError, match=message):
        run("link_github", *args)
    assert not GitHubProfile.objects.filter(user__username="alice").exists()


# --------------------------------------------------------------------------- real processes


def test_manage_py_reports_bad_input_in_one_line_with_a_non_zero_exit() -> None:
    make_installation(github_id=7001)
    for args in (
        ["add_member", "4242", "nobody"],
        ["sync", "not-a-number"],
        ["link_github", "nobody", "--github-id", "5", "--github-login", "x"],
    ):
        result = manage(*args)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("CommandError: ")


def test_manage_py_sync_json_succeeds_with_exit_zero() -> None:
    installation = make_installation(github_id=7001)
    result = manage("sync", "7001", "--json")
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout.strip().splitlines()[-1])
    assert (decision["installation_id"], decision["action"]) == (7001, "start")
    assert IngestionJob.objects.filter(installation=installation).count() == 1
    Installation.objects.filter(pk=installation.pk).update(status=InstallationStatus.SUSPENDED)
    status = manage("sync_status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)[0]["installation_id"] == 7001
