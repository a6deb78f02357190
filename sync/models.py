"""IngestionJob: one run of an installation's sync, from request to finish."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations.models import ErrorKind, IllegalTransition, Installation


class JobStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    BLOCKED = "blocked"
    COMPLETED = "completed"
    FAILED = "failed"


ACTIVE_JOB_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.BLOCKED)

# Which status may follow which. A job never leaves completed or failed.
JOB_TRANSITIONS: dict[str, frozenset[str]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.BLOCKED, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.RUNNING, JobStatus.BLOCKED, JobStatus.COMPLETED, JobStatus.FAILED}
    ),
    JobStatus.BLOCKED: frozenset({JobStatus.RUNNING, JobStatus.BLOCKED, JobStatus.FAILED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
}


class IngestionJob(models.Model):
    installation = models.ForeignKey(Installation, on_delete=models.CASCADE, related_name="jobs")
    trigger = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    full = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    since = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True)
    repository_ids = models.JSONField(default=list)  # snapshot: Repository primary keys
    progress_current = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    current_repository = models.CharField(max_length=255, blank=True, default="")
    events_ingested = models.PositiveIntegerField(default=0)
    # What the job spent of GitHub's two budgets: REST requests and GraphQL points.
    rest_requests = models.PositiveIntegerField(default=0)
    graphql_points = models.PositiveIntegerField(default=0)
    checkpoint = models.JSONField(default=dict, blank=True)
    blocked_until = models.DateTimeField(null=True, blank=True)
    # Why the job is blocked: primary_rate_limit / secondary_rate_limit / budget_reserve.
    blocked_reason = models.CharField(max_length=32, blank=True, default="")
    # Started by cron: the worker pauses at the minimum budget + the cron reserve, until
    # a person's "Sync now" lets it spend down to the minimum (SPEC §3, rule 9b).
    keeps_reserve = models.BooleanField(default=False)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # dead workers since the last page
    # When maintenance last sent the job's message again: at most once a lease period,
    # whichever beat process or pass finds the job waiting (SPEC §5, recovery).
    requeued_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL means "no error"
    error_kind = models.CharField(  # noqa: DJ001 - NULL means "no error"
        max_length=16, choices=ErrorKind.choices, null=True, blank=True
    )
    # [{"repository", "status", "kind", "error"}]
    failures = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The backstop for every race: at most one active job per installation.
            models.UniqueConstraint(
                fields=["installation"],
                condition=Q(status__in=["pending", "running", "blocked"]),
                name="one_active_job_per_installation",
            )
        ]
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="job_status_lease")]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status}) for {self.installation_id}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    def transition(self, to: str) -> None:
        """Move to `to` in memory, refusing an illegal transition. The caller saves."""
        if to not in JOB_TRANSITIONS[self.status]:
            raise IllegalTransition(f"job {self.pk}: {self.status} -> {to} is not allowed")
        self.status = to


def new_lease_token() -> uuid.UUID:
    return uuid.uuid4()


class Heartbeat(models.Model):
    """When a process last showed it was alive: `worker` (any task ran), `beat` (a
    periodic task scheduled by beat ran). Read by the deep health check."""

    name = models.CharField(max_length=32, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


def heartbeat_record(name: str) -> None:
    Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})
