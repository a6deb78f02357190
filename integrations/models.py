"""What ghsync knows about GitHub: installations, who may see them, repositories,
the activity events, and the webhook deliveries that brought some of it."""

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# The widest integer a BigIntegerField holds (GitHub ids, actor ids).
BIGINT_MAX = 2**63 - 1


def fits_bigint(value: int) -> bool:
    """Whether `value` fits a BigIntegerField (SQLite overflows past it, PostgreSQL
    refuses it): the one range check for every id that reaches a column."""
    return -BIGINT_MAX - 1 <= value <= BIGINT_MAX


def is_github_id(value: int) -> bool:
    """A GitHub id: positive and storable."""
    return value > 0 and fits_bigint(value)


class IllegalTransition(Exception):
    """A status was asked to move to a value its current value cannot reach."""


class InstallationStatus(models.TextChoices):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


class InstallationSyncStatus(models.TextChoices):
    IDLE = "idle"
    SYNCING = "syncing"
    BLOCKED = "blocked"
    ERROR = "error"


# Which `sync_status` may follow which. Anything may start syncing; only a started
# sync leaves `error` (a refusal for the rate limit keeps it: SPEC §7 says error
# "whatever refusals came after it"); idle becomes error or idle again only through
# a job, which sets syncing first.
SYNC_STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    InstallationSyncStatus.IDLE: frozenset(
        {InstallationSyncStatus.SYNCING, InstallationSyncStatus.BLOCKED}
    ),
    InstallationSyncStatus.SYNCING: frozenset(InstallationSyncStatus),
    InstallationSyncStatus.BLOCKED: frozenset(InstallationSyncStatus),
    InstallationSyncStatus.ERROR: frozenset({InstallationSyncStatus.SYNCING}),
}


def sync_status_sources(to: str) -> list[str]:
    """The statuses from which `to` may be reached."""
    return [source for source, targets in SYNC_STATUS_TRANSITIONS.items() if to in targets]


class ErrorKind(models.TextChoices):
    """What went wrong, recorded where the typed exception was caught (SPEC §7). A
    person reads the sentence chosen by the kind; the raw text is for logs and admin."""

    RATE_LIMIT = "rate_limit"
    AUTHENTICATION = "authentication"
    NETWORK = "network"
    PARTIAL = "partial"  # some repositories could not be synced; the job completed
    SUSPENDED = "suspended"  # the installation was suspended or removed meanwhile
    UNAVAILABLE = "unavailable"  # one repository: 404 gone, 403 no access, 451
    INTERNAL = "internal"


class Installation(models.Model):
    github_id = models.BigIntegerField(unique=True)
    account_login = models.CharField(max_length=255)
    account_type = models.CharField(max_length=32, default="Organization")
    repository_selection = models.CharField(max_length=16, default="all")
    status = models.CharField(
        max_length=16, choices=InstallationStatus.choices, default=InstallationStatus.ACTIVE
    )
    sync_status = models.CharField(
        max_length=16, choices=InstallationSyncStatus.choices, default=InstallationSyncStatus.IDLE
    )
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_manual_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_error = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL means "no error"
    last_sync_error_kind = models.CharField(  # noqa: DJ001 - NULL means "no error"
        max_length=16, choices=ErrorKind.choices, null=True, blank=True
    )
    # How many repositories the last completed job could not sync (kind `partial`).
    last_sync_failed_repositories = models.PositiveIntegerField(default=0)
    last_sync_error_at = models.DateTimeField(null=True, blank=True)
    rate_limit_limit = models.IntegerField(null=True, blank=True)
    rate_limit_remaining = models.IntegerField(null=True, blank=True)
    rate_limit_reset_at = models.DateTimeField(null=True, blank=True)
    # GitHub's separate GraphQL budget (points, `x-ratelimit-resource: graphql`), kept
    # beside the REST (`core`) one above: the policy holds each bucket the sync spends.
    graphql_limit = models.IntegerField(null=True, blank=True)
    graphql_remaining = models.IntegerField(null=True, blank=True)
    graphql_reset_at = models.DateTimeField(null=True, blank=True)
    blocked_until = models.DateTimeField(null=True, blank=True)
    backfill_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(36500)],
        help_text="How many days a full sync reads back; empty: SYNC_BACKFILL_DAYS.",
    )
    # GitHub's own `installation.updated_at`, the newest seen: a webhook body older than
    # this is a replay (or late) and changes nothing (SPEC §6).
    github_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_login", "github_id"]
        permissions = [("sync_installation", "Can ask for a sync now (admin action)")]

    def __str__(self) -> str:
        return f"{self.account_login} ({self.github_id})"

    def move_sync_status(self, to: InstallationSyncStatus, **fields: Any) -> None:
        """`sync_status_move` for this row, keeping the instance in step."""
        sync_status_move(installation_id=self.pk, to=to, **fields)
        self.sync_status = to
        for name, value in fields.items():
            setattr(self, name, value)


def sync_status_move(*, installation_id: int, to: InstallationSyncStatus, **fields: Any) -> None:
    """Every write of `Installation.sync_status` goes through here: one conditional
    UPDATE (no read-modify-write race) of `sync_status` and `fields`, which refuses a
    move the current value cannot make (`SYNC_STATUS_TRANSITIONS`)."""
    moved = Installation.objects.filter(
        pk=installation_id, sync_status__in=sync_status_sources(to)
    ).update(sync_status=to, updated_at=timezone.now(), **fields)
    if moved:
        return
    current = (
        Installation.objects.filter(pk=installation_id)
        .values_list("sync_status", flat=True)
        .first()
    )
    if current is None:
        raise Installation.DoesNotExist(f"installation {installation_id} no longer exists")
    raise IllegalTransition(f"installation {installation_id}: {current} -> {to} is not allowed")


class MemberRole(models.TextChoices):
    OWNER = "owner"
    VIEWER = "viewer"


class InstallationMember(models.Model):
    """The one source of truth for who may see and sync an installation."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    installation = models.ForeignKey(Installation, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=16, choices=MemberRole.choices, default=MemberRole.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "installation"], name="unique_member_per_installation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.installation}"


class GitHubProfile(models.Model):
    """A user's GitHub identity; a webhook's sender.id is matched against github_id."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="github_profile"
    )
    github_id = models.BigIntegerField(unique=True)
    github_login = models.CharField(max_length=255)

    def __str__(self) -> str:
        return f"{self.github_login} ({self.github_id})"


class Repository(models.Model):
    github_id = models.BigIntegerField(unique=True)
    installation = models.ForeignKey(
        Installation, on_delete=models.CASCADE, related_name="repositories"
    )
    full_name = models.CharField(max_length=255)
    default_branch = models.CharField(max_length=255, default="main")
    private = models.BooleanField(default=False)
    archived = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # GitHub's `pushed_at` when the commits were last read: the change check (SPEC §5)
    # reads them again only after another push.
    pushed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL means "no error"
    last_error_kind = models.CharField(  # noqa: DJ001 - NULL means "no error"
        max_length=16, choices=ErrorKind.choices, null=True, blank=True
    )
    last_error_status = models.PositiveSmallIntegerField(null=True, blank=True)  # HTTP status
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["full_name"]
        verbose_name_plural = "repositories"
        indexes = [models.Index(fields=["installation", "is_active"])]

    def __str__(self) -> str:
        return self.full_name


class Stream(models.TextChoices):
    COMMITS = "commits"
    PULLS = "pulls"
    REVIEWS = "reviews"
    PULL_COMMITS = "pull_commits"
    ISSUES = "issues"
    COMMENTS = "comments"
    REVIEW_COMMENTS = "review_comments"


class StreamState(models.Model):
    """Per-repository, per-stream sync state: the high-water mark and the validators of
    the stream's first page. The ETag is sent back as If-None-Match only for the same
    URL and while the same token (`etag_scope`, a fingerprint) is in use, since GitHub's
    ETags are token specific; `last_modified` goes back as If-Modified-Since, which holds
    across tokens, where GitHub sends it (the commits list)."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="streams")
    stream = models.CharField(max_length=16, choices=Stream.choices)
    high_water_mark = models.DateTimeField(null=True, blank=True)
    etag = models.CharField(max_length=255, blank=True, default="")
    etag_url = models.TextField(blank=True, default="")
    etag_scope = models.CharField(max_length=64, blank=True, default="")
    last_modified = models.CharField(max_length=64, blank=True, default="")
    last_error = models.TextField(null=True, blank=True)  # noqa: DJ001
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["repository", "stream"], name="unique_stream_per_repository"
            )
        ]

    def __str__(self) -> str:
        return f"{self.repository} {self.stream}"


class EventKind(models.TextChoices):
    COMMIT = "commit", "Commit"
    PR_OPENED = "pr_opened", "PR opened"
    PR_MERGED = "pr_merged", "PR merged"
    PR_CLOSED = "pr_closed", "PR closed"
    REVIEW_SUBMITTED = "review_submitted", "Review"
    ISSUE_OPENED = "issue_opened", "Issue opened"
    ISSUE_CLOSED = "issue_closed", "Issue closed"
    ISSUE_COMMENT = "issue_comment", "Comment"
    REVIEW_COMMENT = "review_comment", "Review comment"


class Event(models.Model):
    """One piece of GitHub activity. The natural key (repository, kind, github_id) is
    shared by the REST backfill and webhooks, so nothing is ever stored twice."""

    installation = models.ForeignKey(Installation, on_delete=models.CASCADE, related_name="events")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    github_id = models.CharField(max_length=64)
    actor_login = models.CharField(max_length=255, blank=True, default="")
    actor_github_id = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    title = models.CharField(max_length=512, blank=True, default="")
    url = models.URLField(max_length=1024, blank=True, default="")
    number = models.IntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["repository", "kind", "github_id"], name="unique_event_natural_key"
            )
        ]
        indexes = [
            models.Index(fields=["installation", "-occurred_at", "-id"], name="event_inst_recent"),
            models.Index(fields=["repository", "-occurred_at", "-id"], name="event_repo_recent"),
        ]
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.github_id} in {self.repository_id}"


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    delivery_id = models.CharField(max_length=64, unique=True)
    event = models.CharField(max_length=64)
    action = models.CharField(max_length=64, blank=True, default="")
    installation_github_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.RECEIVED
    )
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status"], name="delivery_pending", condition=Q(status="received"))
        ]

    def __str__(self) -> str:
        return f"{self.event}.{self.action} {self.delivery_id}"
