"""The admin: releases' states shown read-only, changed only through their transitions."""

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from distribution import audit, services
from distribution.api_tokens import revoke_api_token
from distribution.models import (
    ApiToken,
    AuditEntry,
    NodeCredential,
    Passkey,
    Product,
    ProductRole,
    Release,
    ReleaseDayStats,
    ReleaseFile,
    SsoIdentity,
    SwarmSample,
    Tag,
    Torrent,
)


class ProductRoleInline(admin.TabularInline):
    """Shown only: roles change on the product's roles page, which records each change."""

    model = ProductRole
    extra = 0
    fields = readonly_fields = ["user", "role", "granted_at"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ProductRoleInline]
    search_fields = ["name", "slug"]


class ReleaseFileInline(admin.TabularInline):
    model = ReleaseFile
    extra = 0
    readonly_fields = ["path", "size", "sha256"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        # A file's bytes arrive by the publish page or command; a row added here would have none.
        return False


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "visibility", "torrent_format", "created_at", "published_at"]
    list_filter = ["status", "visibility", "torrent_format", "product", "tags", "audience"]
    filter_horizontal = ["tags", "audience"]
    search_fields = ["product__name", "version"]
    # What the release was built from and where its build stands; the rest stays editable.
    readonly_fields = [
        "product",
        "version",
        "torrent_format",
        "created_by",
        "created_at",
        "status",
        "failure_reason",
        "published_at",
        "retired_at",
        "files_purged_at",
        "storage_key",
        "content_name",
        "is_single_file",
        "build_pieces_done",
        "build_pieces_total",
        "build_updated_at",
    ]
    inlines = [ReleaseFileInline]
    actions = ["retry_builds", "retire_releases", "fail_builds", "delete_unpublished"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A release is made with its files, by the publish page or command; here it would have none.
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Deleting the row alone would leave its files on disk, and a published release's
        # torrent in clients: the "delete" action below goes through the service instead.
        return False

    def save_model(self, request: HttpRequest, obj: Release, form, change: bool) -> None:
        # Visibility and audience change through the service (save_related), which records the change.
        obj.visibility = form.initial["visibility"]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        audience = form.cleaned_data.pop("audience")
        super().save_related(request, form, formsets, change)
        try:
            services.change_release_access(
                release=form.instance,
                visibility=form.cleaned_data["visibility"],
                audience=audience,
                request=request,
            )
        except services.ReleaseRejected as exc:
            self.message_user(request, f"Visibility and audience left as they were: {exc}", messages.ERROR)

    @admin.action(description="Build the selected failed releases again")
    def retry_builds(self, request: HttpRequest, queryset: QuerySet[Release]) -> None:
        moved = self._each(request, queryset, services.retry_build)
        self._report(request, moved, len(queryset), "queued for a new build", "failed")

    @admin.action(description="Retire the selected published releases")
    def retire_releases(self, request: HttpRequest, queryset: QuerySet[Release]) -> None:
        moved = self._each(request, queryset, services.retire_release)
        self._report(request, moved, len(queryset), "retired", "published")

    @admin.action(description="Stop the selected builds (they fail; a retry builds again)")
    def fail_builds(self, request: HttpRequest, queryset: QuerySet[Release]) -> None:
        reason = f"Stopped by {request.user.get_username()} in the admin."
        moved = sum(release.fail(reason) for release in queryset)
        self._report(request, moved, len(queryset), "stopped", "processing")

    @admin.action(description="Delete the selected drafts and failed releases, with their files")
    def delete_unpublished(self, request: HttpRequest, queryset: QuerySet[Release]) -> None:
        moved = self._each(request, queryset, services.delete_release)
        self._report(request, moved, len(queryset), "deleted", "draft, uploading or failed")

    @staticmethod
    def _each(request: HttpRequest, queryset: QuerySet[Release], service: Callable[..., None]) -> int:
        """Call the service for each selected release; how many it did not refuse."""
        moved = 0
        for release in queryset:
            try:
                service(release=release, request=request)
            except services.ReleaseRejected:
                continue
            moved += 1
        return moved

    def _report(self, request: HttpRequest, moved: int, selected: int, done: str, required: str) -> None:
        self.message_user(request, f"{moved} of {selected} selected releases {done}.", messages.SUCCESS)
        if moved < selected:
            self.message_user(
                request,
                f"{selected - moved} left as they were: they were not {required}.",
                messages.WARNING,
            )


@admin.register(Torrent)
class TorrentAdmin(admin.ModelAdmin):
    list_display = ["release", "info_hash_v1", "info_hash_v2", "piece_length", "piece_count"]
    search_fields = ["info_hash_v1", "info_hash_v2", "release__product__name"]
    readonly_fields = [
        "info_hash_v1",
        "info_hash_v2",
        "piece_length",
        "piece_count",
        "magnet_uri",
        "created_at",
    ]
    exclude = ["metainfo"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(ReleaseDayStats)
class ReleaseDayStatsAdmin(admin.ModelAdmin):
    list_display = ["release", "day", "torrent_fetches", "completed", "http_requests", "origin_bytes"]
    list_filter = ["day"]
    list_select_related = ["release__product"]


@admin.register(SwarmSample)
class SwarmSampleAdmin(admin.ModelAdmin):
    list_display = ["release", "taken_at", "seeders", "leechers"]
    list_select_related = ["release__product"]


@admin.register(Passkey)
class PasskeyAdmin(admin.ModelAdmin):
    list_display = ["user", "created_at"]
    search_fields = ["user__username"]
    readonly_fields = ["key", "created_at"]


@admin.register(NodeCredential)
class NodeCredentialAdmin(admin.ModelAdmin):
    """Seeder nodes' credentials: never the secret (only its hash is stored, and not shown), revocable."""

    list_display = ["node_name", "issued_at", "revoked", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["node_name"]
    fields = ["node_name", "issued_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke", "allow_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A node issues its own credential when it starts (runseeder).
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Deleting a revoked node's row would let it issue itself a credential again.
        return False

    @admin.display(boolean=True)
    def revoked(self, credential: NodeCredential) -> bool:
        return credential.is_revoked

    @staticmethod
    def _each(
        request: HttpRequest,
        queryset: QuerySet[NodeCredential],
        transition: Callable[[NodeCredential], bool],
        action: str,
    ) -> int:
        """The transition on each selected credential, each one made recorded; how many were made."""
        moved = 0
        for credential in queryset:
            if transition(credential):
                audit.record(action, request=request, target=credential)
                moved += 1
        return moved

    @admin.action(description="Revoke: refuse their private announces; they may not issue another")
    def revoke(self, request: HttpRequest, queryset: QuerySet[NodeCredential]) -> None:
        moved = self._each(request, queryset, NodeCredential.revoke, "node_credential.revoked")
        self.message_user(
            request,
            f"{moved} of {len(queryset)} selected credentials revoked: "
            "the trackers refuse them from their next whitelist refresh.",
            messages.SUCCESS,
        )

    @admin.action(description="Allow again: the node issues itself a new credential when it next starts")
    def allow_again(self, request: HttpRequest, queryset: QuerySet[NodeCredential]) -> None:
        moved = self._each(request, queryset, NodeCredential.allow_again, "node_credential.allowed_again")
        self.message_user(
            request,
            f"{moved} of {len(queryset)} selected credentials allowed again: restart those nodes.",
            messages.SUCCESS,
        )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Users' API tokens: never the secret (only its hash is stored, and not shown); staff revoke any."""

    list_display = ["name", "user", "prefix", "scope", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "name", "prefix"]
    list_select_related = ["user"]
    fields = ["user", "name", "prefix", "scope", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A token is shown once, to whoever makes it: its user on the account page, or `manage.py token`.
        return False

    @admin.action(description="Revoke: refuse them from their next request")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        moved = sum(revoke_api_token(token, request=request) for token in queryset)
        self.message_user(request, f"{moved} of {len(queryset)} selected tokens revoked.", messages.SUCCESS)


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin):
    """Which account each provider subject signs in as (distribution.sso): made at a first sign-in;
    staff add one to let a subject sign in as an existing local account, or delete one to unlink it."""

    list_display = ["user", "subject", "issuer", "created_at"]
    search_fields = ["user__username", "subject"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log, to read only: nobody adds, changes or deletes a line (the retention setting
    removes old ones). Staff's page with filters and CSV export is /audit/."""

    list_display = ["at", "actor_name", "action", "target_text", "address"]
    search_fields = ["actor_name", "action", "target_text"]
    fields = [
        "at",
        "action",
        "actor",
        "actor_name",
        "address",
        "target_type",
        "target_id",
        "target_text",
        "details",
    ]
    readonly_fields = fields
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class AuditedUserAdmin(UserAdmin):
    """Accounts in the admin. Activation and groups change on the staff pages, which record them in
    the audit log (and end a deactivated user's sessions, tokens and passkey); an account made here,
    and staff or superuser status changed here, are recorded."""

    PRIVILEGES = ("is_staff", "is_superuser")

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return (*fields, "is_active", "groups") if obj is not None else fields

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        before = User.objects.filter(pk=obj.pk).values(*self.PRIVILEGES).first() if change else None
        super().save_model(request, obj, form, change)
        if before is None:
            audit.record("user.created", actor=request.user, request=request, target=obj, invited=False)
            return
        changed = {name: getattr(obj, name) for name in self.PRIVILEGES if before[name] != getattr(obj, name)}
        if changed:
            audit.record(
                "user.privileges_changed", actor=request.user, request=request, target=obj, **changed
            )
