"""Passkeys move from the tracker app to distribution (access), keeping every row.

The model's state moves here after the tracker app lets go of it (tracker
0002); the table is then renamed from tracker_passkey to distribution_passkey.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import distribution.models


class Migration(migrations.Migration):
    dependencies = [
        ("distribution", "0008_releasedaystats_day"),
        ("tracker", "0002_passkey_to_distribution"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Passkey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "key",
                            models.CharField(
                                default=distribution.models.new_passkey, max_length=32, unique=True
                            ),
                        ),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "user",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="passkey",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={"db_table": "tracker_passkey"},
                ),
            ],
        ),
        migrations.AlterModelTable(name="passkey", table=None),
    ]
