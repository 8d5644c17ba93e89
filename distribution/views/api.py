"""The read-only REST API: products and the catalogue's releases, with the catalogue's visibility.

Anonymous callers see public releases; a session (or whatever authentication
the settings add) also sees private ones, exactly as the catalogue does. The
OpenAPI schema is at /api/schema/.
"""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.pagination import PageNumberPagination

from distribution import selectors
from distribution.models import Product, Release, ReleaseFile


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["slug", "name", "description"]


class ReleaseFileSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Direct HTTP download (Range requests work).")

    class Meta:
        model = ReleaseFile
        fields = ["path", "size", "sha256", "url"]

    def get_url(self, release_file: ReleaseFile) -> str:
        return settings.FANOUT_PUBLIC_URL + release_file.download_url


class ReleaseSerializer(serializers.ModelSerializer):
    product = ProductSerializer()
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    size = serializers.IntegerField(help_text="Bytes, all files.")
    file_count = serializers.IntegerField()
    downloads = serializers.IntegerField(help_text="Completed downloads reported to the tracker.")
    seeders = serializers.IntegerField(help_text="As the tracker last sampled the swarm.")
    leechers = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    torrent_url = serializers.SerializerMethodField()

    class Meta:
        model = Release
        fields = [
            "id", "product", "version", "visibility", "torrent_format", "tags", "published_at",
            "size", "file_count", "downloads", "seeders", "leechers", "url", "torrent_url",
        ]  # fmt: skip

    def get_url(self, release: Release) -> str:
        return settings.FANOUT_PUBLIC_URL + release.get_absolute_url()

    def get_torrent_url(self, release: Release) -> str:
        return settings.FANOUT_PUBLIC_URL + reverse("release-torrent", args=[release.pk])


class ReleaseDetailSerializer(ReleaseSerializer):
    notes = serializers.CharField(help_text="Markdown.")
    files = ReleaseFileSerializer(many=True)
    info_hash_v1 = serializers.CharField(source="torrent.info_hash_v1", allow_null=True)
    info_hash_v2 = serializers.CharField(source="torrent.info_hash_v2", allow_null=True)
    magnet_uri = serializers.CharField(source="torrent.magnet_uri")

    class Meta(ReleaseSerializer.Meta):
        fields = [
            *ReleaseSerializer.Meta.fields,
            "notes",
            "files",
            "info_hash_v1",
            "info_hash_v2",
            "magnet_uri",
        ]


class CataloguePagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Search product names, versions, notes and file names."),
            OpenApiParameter("product", str, description="A product's slug."),
            OpenApiParameter("tag", str, description="A tag's slug."),
            OpenApiParameter("sort", str, enum=[value for value, _ in selectors.CatalogueSort.CHOICES]),
        ]
    )
)
class ReleaseViewSet(viewsets.ReadOnlyModelViewSet):
    """Published releases the caller may see, as the catalogue lists them."""

    pagination_class = CataloguePagination

    def get_queryset(self):
        params = self.request.query_params
        releases = selectors.catalogue_releases(
            self.request.user,
            query=params.get("q", "").strip() if self.action == "list" else "",
            product=params.get("product", "") if self.action == "list" else "",
            tag=params.get("tag", "") if self.action == "list" else "",
            sort=params.get("sort", "") if self.action == "list" else "",
        )
        if self.action == "retrieve":
            releases = releases.select_related("torrent").prefetch_related("files")
        return releases.filter(torrent__isnull=False)

    def get_serializer_class(self):
        return ReleaseDetailSerializer if self.action == "retrieve" else ReleaseSerializer


class ProductViewSet(viewsets.ReadOnlyModelViewSet):
    """Products with at least one release the caller may see."""

    serializer_class = ProductSerializer
    lookup_field = "slug"
    pagination_class = CataloguePagination

    def get_queryset(self):
        products, _ = selectors.catalogue_filters(self.request.user)
        return products.only("name", "slug", "description").order_by("name")
