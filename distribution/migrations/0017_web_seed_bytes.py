from django.db import migrations, models


def counter_fields(model_name: str) -> list:
    return [
        migrations.AddField(
            model_name=model_name,
            name="web_seed_bytes",
            field=models.PositiveBigIntegerField(
                db_default=0,
                default=0,
                help_text="Of the HTTP bytes, those served to BitTorrent clients' web seeds.",
            ),
        ),
        migrations.AlterField(
            model_name=model_name,
            name="http_bytes",
            field=models.PositiveBigIntegerField(
                default=0, help_text="Bytes served over HTTP: web seed and direct downloads."
            ),
        ),
        migrations.AlterField(
            model_name=model_name,
            name="completed",
            field=models.PositiveBigIntegerField(
                default=0, help_text="Completed downloads: once per peer the tracker saw leeching."
            ),
        ),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("distribution", "0016_web_seed_route"),
    ]

    operations = counter_fields("releasedaystats") + counter_fields("releasetotals")
