"""Seeder nodes and their seedings in the Django admin, read-only: the daemons own them."""

from django.contrib import admin

from seeder.models import SeederNode, Seeding


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class SeedingInline(admin.TabularInline):
    model = Seeding
    fields = ["release", "state", "error_message", "uploaded_bytes", "upload_rate", "peers", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SeederNode)
class SeederNodeAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "alive",
        "listen_address",
        "version",
        "copies",
        "started_at",
        "last_heartbeat_at",
        "upload_rate",
        "error_message",
    ]
    search_fields = ["name"]
    inlines = [SeedingInline]

    @admin.display(boolean=True)
    def alive(self, node: SeederNode) -> bool:
        return node.is_alive


@admin.register(Seeding)
class SeedingAdmin(ReadOnlyAdmin):
    list_display = ["release", "node", "state", "uploaded_bytes", "upload_rate", "updated_at"]
    list_filter = ["state", "node"]
    list_select_related = ["release__product", "node"]
    search_fields = ["release__product__name", "release__version", "node__name"]
