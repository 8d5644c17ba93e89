"""Per-product roles: a product's publishers become rows of ProductRole, which also holds its maintainers.

Who published to a product before (a row of the old publishers table, which
``publish`` filled when they made the product and the admin filled by hand)
is its publisher now, and keeps publishing to it and managing the releases
they made; nobody is made a maintainer: staff manage every product until they
name its maintainers. The undo keeps every role holder, maintainers included,
as a publisher.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def roles_from_publishers(apps, schema_editor):
    Product = apps.get_model("distribution", "Product")
    ProductRole = apps.get_model("distribution", "ProductRole")
    pairs = Product.publishers.through.objects.values_list("product_id", "user_id")
    ProductRole.objects.bulk_create(
        ProductRole(product_id=product_id, user_id=user_id, role="publisher") for product_id, user_id in pairs
    )


def publishers_from_roles(apps, schema_editor):
    Product = apps.get_model("distribution", "Product")
    ProductRole = apps.get_model("distribution", "ProductRole")
    Product.publishers.through.objects.bulk_create(
        Product.publishers.through(product_id=product_id, user_id=user_id)
        for product_id, user_id in ProductRole.objects.values_list("product_id", "user_id")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("distribution", "0017_web_seed_bytes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ProductRole",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "role",
                    models.CharField(
                        choices=[("maintainer", "Maintainer"), ("publisher", "Publisher")],
                        default="publisher",
                        max_length=12,
                    ),
                ),
                ("granted_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "product",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="roles",
                        to="distribution.product",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="product_roles",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["product", "role", "user"],
                "constraints": [
                    models.UniqueConstraint(fields=("product", "user"), name="one_role_per_product_user")
                ],
            },
        ),
        migrations.RunPython(roles_from_publishers, publishers_from_roles),
        migrations.RemoveField(model_name="product", name="publishers"),
        migrations.AddField(
            model_name="product",
            name="publishers",
            field=models.ManyToManyField(
                blank=True,
                related_name="products",
                through="distribution.ProductRole",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
