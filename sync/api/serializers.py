"""API shapes (SPEC §6, §7). The status and decision serializers describe objects
built elsewhere (`SyncStatus.as_dict()`, `SyncDecision.as_dict()`) for the OpenAPI
schema; the event serializer renders rows."""

from __future__ import annotations

from rest_framework import serializers

from integrations.models import Event, EventKind
from sync.health import CHECK_STATUSES, REPORT_STATUSES
from sync.policy import Action
from sync.status import State


class ActiveJobProgressSerializer(serializers.Serializer):
    current = serializers.IntegerField()
    total = serializers.IntegerField()
    events_ingested = serializers.IntegerField()
    current_repository = serializers.CharField(allow_null=True)


class SyncStatusSerializer(serializers.Serializer):
    installation_id = serializers.IntegerField(help_text="The installation's GitHub id")
    account_login = serializers.CharField()
    state = serializers.ChoiceField(choices=[str(state) for state in State])
    can_sync_now = serializers.BooleanField()
    cooldown_ms = serializers.IntegerField(allow_null=True)
    blocked_until = serializers.DateTimeField(allow_null=True)
    active_job_progress = ActiveJobProgressSerializer(allow_null=True)
    last_synced_at = serializers.DateTimeField(allow_null=True)
    last_sync_error = serializers.CharField(allow_null=True)
    unavailable_reason = serializers.CharField(allow_null=True)


class SyncDecisionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=[str(action) for action in Action])
    reason = serializers.CharField()
    message = serializers.CharField()
    job_id = serializers.IntegerField(allow_null=True)
    metadata = serializers.DictField()


# SPEC §6: an event's keys in the API, the exports and the schema, in this order.
EVENT_FIELDS = [
    "kind",
    "github_id",
    "repository",
    "installation_id",
    "actor_login",
    "actor_github_id",
    "occurred_at",
    "title",
    "url",
    "number",
    "data",
]


class EventSerializer(serializers.ModelSerializer):
    github_id = serializers.CharField()
    repository = serializers.CharField(source="repository.full_name")
    installation_id = serializers.IntegerField(source="installation.github_id")
    kind = serializers.ChoiceField(choices=EventKind.choices)

    class Meta:
        model = Event
        fields = EVENT_FIELDS
        read_only_fields = fields


class ActivityCountSerializer(serializers.Serializer):
    day = serializers.DateField()
    kind = serializers.ChoiceField(choices=EventKind.choices)
    repository = serializers.CharField(required=False, help_text="with group_by=repository")
    actor = serializers.CharField(required=False, help_text="with group_by=actor")
    count = serializers.IntegerField()


class ActivitySerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="The number of events the same filters return")
    results = ActivityCountSerializer(many=True)


class HealthCheckSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CHECK_STATUSES)
    message = serializers.CharField(required=False)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=REPORT_STATUSES)
    checks = serializers.DictField(child=HealthCheckSerializer(), required=False)
