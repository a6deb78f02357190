"""DRF's plain-text API tokens become knox tokens: same key, stored hashed, expiring
API_TOKEN_TTL_DAYS after this migration (sync.tokens.legacy_tokens_convert)."""

from django.db import migrations
from django.utils import timezone

from sync.tokens import legacy_tokens_convert


def convert(apps, schema_editor):
    legacy_tokens_convert(
        legacy_model=apps.get_model("authtoken", "Token"),
        knox_model=apps.get_model("knox", "AuthToken"),
        now=timezone.now(),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0007_beat_schedules_expire"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(convert, migrations.RunPython.noop)]
