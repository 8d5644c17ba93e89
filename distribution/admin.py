from django.contrib import admin

from distribution.models import (
    Passkey,
    Product,
    Release,
    ReleaseDayStats,
    ReleaseFile,
    SwarmSample,
    Tag,
    Torrent,
)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["publishers"]
    search_fields = ["name", "slug"]


class ReleaseFileInline(admin.TabularInline):
    model = ReleaseFile
    extra = 0
    readonly_fields = ["path", "size", "sha256"]
    can_delete = False


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "visibility", "torrent_format", "created_at", "published_at"]
    list_filter = ["status", "visibility", "torrent_format", "product", "tags"]
    filter_horizontal = ["tags"]
    search_fields = ["product__name", "version"]
    readonly_fields = [
        "storage_key",
        "content_name",
        "is_single_file",
        "build_pieces_done",
        "build_pieces_total",
        "build_updated_at",
    ]
    inlines = [ReleaseFileInline]


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
