"""Passkeys now belong to distribution (distribution 0009 takes the model and its table, with its rows)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("tracker", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Passkey")]),
    ]
