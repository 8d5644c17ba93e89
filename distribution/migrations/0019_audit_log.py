import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("distribution", "0018_product_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                (
                    "action",
                    models.CharField(help_text='"<noun>.<verb>", e.g. release.published.', max_length=64),
                ),
                (
                    "actor_name",
                    models.CharField(
                        blank=True,
                        help_text="Empty: the system or a command; for a failed sign-in, the name tried.",
                        max_length=150,
                    ),
                ),
                ("address", models.GenericIPAddressField(blank=True, null=True)),
                (
                    "target_type",
                    models.CharField(blank=True, help_text="app_label.model_name", max_length=100),
                ),
                ("target_id", models.CharField(blank=True, max_length=64)),
                ("target_text", models.CharField(blank=True, max_length=255)),
                (
                    "details",
                    models.JSONField(
                        blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder
                    ),
                ),
                (
                    "once_key",
                    models.CharField(blank=True, editable=False, max_length=200, null=True, unique=True),
                ),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "audit entry",
                "verbose_name_plural": "audit log",
                "ordering": ["-at", "-id"],
                "indexes": [
                    models.Index(fields=["target_type", "target_id"], name="auditentry_target"),
                    models.Index(fields=["actor_name", "at"], name="auditentry_actor_at"),
                    models.Index(fields=["action", "at"], name="auditentry_action_at"),
                    models.Index(fields=["address", "at"], name="auditentry_address_at"),
                ],
            },
        ),
    ]
