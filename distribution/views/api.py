"""The REST API: the catalogue's products and releases, with the catalogue's visibility,
and publishing (declare a release, upload its files with tus, build, retry, retire,
notes and tags, statistics) with the same services as the pages and the command.

Callers authenticate with an API token (``Authorization: Bearer``) or a session.
Anonymous callers see public releases; a signed-in one sees what the catalogue
shows them, and their products' releases in every state. The OpenAPI schema is
at /api/schema/, browsable at /api/docs/.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db.models import Q
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from bittorrent.torrents import TorrentFile
from distribution import selectors, services
from distribution.access import may_publish
from distribution.models import Product, Release, ReleaseFile
from distribution.statistics import (
    DAY_ROW_COUNTERS,
    DAY_ROW_FIGURES,
    date_range,
    first_day_of,
    release_statistics,
)
from distribution.views.publishing import MAX_DECLARED_FILES, managed_release, release_state


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
    status = serializers.ChoiceField(choices=Release.Status.choices)
    build_percent = serializers.IntegerField(help_text="How much of the torrent is built, while processing.")
    failure_reason = serializers.CharField(help_text="Why the build failed, when it did.")
    files = ReleaseFileSerializer(many=True)
    info_hash_v1 = serializers.SerializerMethodField()
    info_hash_v2 = serializers.SerializerMethodField()
    magnet_uri = serializers.SerializerMethodField()

    class Meta(ReleaseSerializer.Meta):
        fields = [
            *ReleaseSerializer.Meta.fields,
            "notes",
            "status",
            "build_percent",
            "failure_reason",
            "files",
            "info_hash_v1",
            "info_hash_v2",
            "magnet_uri",
        ]

    def _torrent(self, release: Release):
        return getattr(release, "torrent", None)

    def get_info_hash_v1(self, release: Release) -> str | None:
        torrent = self._torrent(release)
        return torrent.info_hash_v1 if torrent else None

    def get_info_hash_v2(self, release: Release) -> str | None:
        torrent = self._torrent(release)
        return torrent.info_hash_v2 if torrent else None

    def get_magnet_uri(self, release: Release) -> str | None:
        """The public magnet; a private release's personal one is at /releases/<id>/magnet."""
        torrent = self._torrent(release)
        return torrent.magnet_uri if torrent and release.is_public else None


class DeclaredFileSerializer(serializers.Serializer):
    path = serializers.CharField(
        min_length=1, help_text="Relative path inside the release, with / separators."
    )
    size = serializers.IntegerField(min_value=0, help_text="Bytes.")


class ReleaseCreateSerializer(serializers.Serializer):
    product = serializers.CharField(
        max_length=200, help_text="A product's slug, or the name of a new product (which you then publish)."
    )
    version = serializers.CharField(max_length=100)
    visibility = serializers.ChoiceField(
        choices=Release.Visibility.choices, default=Release.Visibility.PUBLIC
    )
    audience = serializers.ListField(
        child=serializers.CharField(), default=list, help_text="Group names that may see a private release."
    )
    notes = serializers.CharField(allow_blank=True, default="", help_text="Markdown.")
    tags = serializers.ListField(child=serializers.CharField(max_length=50), default=list)
    torrent_format = serializers.ChoiceField(choices=Release.TorrentFormat.choices, required=False)
    files = DeclaredFileSerializer(many=True, allow_empty=False, max_length=MAX_DECLARED_FILES)

    def validate_audience(self, names: list[str]) -> list[Group]:
        groups = list(Group.objects.filter(name__in=names))
        unknown = set(names) - {group.name for group in groups}
        if unknown:
            raise serializers.ValidationError(f"No such group: {', '.join(sorted(unknown))}.")
        return groups


class ReleaseUpdateSerializer(serializers.Serializer):
    notes = serializers.CharField(allow_blank=True, required=False, help_text="Markdown.")
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)


class UploadStateSerializer(serializers.Serializer):
    size = serializers.IntegerField()
    offset = serializers.IntegerField(help_text="Bytes the server has; a tus upload resumes from here.")
    complete = serializers.BooleanField()
    fingerprint = serializers.CharField(
        help_text="The `fingerprint` the file's upload was created with (tus metadata), if any."
    )


class ReleaseUploadsSerializer(serializers.Serializer):
    release_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Release.Status.choices)
    release_url = serializers.CharField(help_text="The release's page.")
    upload_url = serializers.CharField(
        help_text="The tus 1.0 endpoint: metadata `release` and `relativePath`, and `fingerprint` "
        "(optional: a creation with another one than the unfinished upload's starts it over)."
    )
    complete_url = serializers.CharField(help_text="POST here once every file is sent: the build starts.")
    files = serializers.DictField(child=UploadStateSerializer(), help_text="By path.")


class StatisticsDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    completed = serializers.IntegerField()
    torrent_fetches = serializers.IntegerField()
    magnet_fetches = serializers.IntegerField()
    http_requests = serializers.IntegerField()
    http_bytes = serializers.IntegerField()
    web_seed_bytes = serializers.IntegerField(help_text="Of http_bytes, those web seeds took.")
    origin_bytes = serializers.IntegerField()
    reported_downloaded_bytes = serializers.IntegerField()
    direct_bytes = serializers.IntegerField(help_text="Of http_bytes, the direct downloads'.")
    origin_sent_bytes = serializers.IntegerField()
    delivered_bytes = serializers.IntegerField()
    http_downloads = serializers.FloatField(help_text="Direct downloads as whole-release equivalents.")
    downloads = serializers.FloatField(help_text="completed + http_downloads.")
    offload_ratio = serializers.FloatField(allow_null=True)


class StatisticsSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    days = StatisticsDaySerializer(many=True)


RELEASE_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="A release's id.")


class Rejected(exceptions.APIException):
    """What the publishing services refused, and why, in DRF's shape: ``{"detail": "..."}``."""

    status_code = 400
    default_code = "rejected"


class Conflict(Rejected):
    status_code = 409
    default_code = "conflict"


class CataloguePagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request) -> int:
        """``page_size`` from 1 to ``max_page_size``; anything else is refused, not silently replaced."""
        asked = request.query_params.getlist(self.page_size_query_param)
        if not asked:
            return self.page_size
        if len(asked) > 1 or not asked[0].isdigit() or not 1 <= int(asked[0]) <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(asked[0])

    def get_page_number(self, request, paginator) -> str:
        """``page`` from 1 on (an empty or malformed one is refused, not read as the first)."""
        asked = request.query_params.getlist(self.page_query_param)
        if asked and (len(asked) > 1 or not asked[0].isdigit() or int(asked[0]) < 1):
            raise exceptions.ValidationError({self.page_query_param: ["A whole number from 1."]})
        return super().get_page_number(request, paginator)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Search product names, versions, notes and file names."),
            OpenApiParameter("product", str, description="A product's slug."),
            OpenApiParameter("tag", str, description="A tag's slug."),
            OpenApiParameter("sort", str, enum=[value for value, _ in selectors.CatalogueSort.CHOICES]),
            OpenApiParameter("info_hash", str, description="A v1 (40 hex) or v2 (64 hex) info-hash."),
        ]
    ),
    create=extend_schema(request=ReleaseCreateSerializer, responses={201: ReleaseUploadsSerializer}),
    retrieve=extend_schema(parameters=[RELEASE_ID]),
    partial_update=extend_schema(
        parameters=[RELEASE_ID], request=ReleaseUpdateSerializer, responses=ReleaseDetailSerializer
    ),
    destroy=extend_schema(parameters=[RELEASE_ID], responses={204: None}),
)
class ReleaseViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    GenericViewSet,
):
    """Published releases the caller may see, as the catalogue lists them; and publishing.

    A publisher declares a release and its files (POST), sends each file to the
    tus endpoint, then asks for the build (finish); the release is published when
    its torrent is built. The product's publishers and staff see its releases in
    every state here, and may delete one that was never published (DELETE: a draft,
    a stalled upload or a failed build, with its files).
    """

    pagination_class = CataloguePagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    parser_classes = [JSONParser]

    def get_queryset(self):
        params = self.request.query_params
        if self.action == "list":
            if "sort" in params and params["sort"] not in (
                value for value, _ in selectors.CatalogueSort.CHOICES
            ):
                raise exceptions.ValidationError({"sort": ["Not one of the sorts the schema lists."]})
            releases = selectors.catalogue_releases(
                self.request.user,
                query=selectors.catalogue_filter(params, "q"),
                product=selectors.catalogue_filter(params, "product"),
                tag=selectors.catalogue_filter(params, "tag"),
                sort=selectors.catalogue_filter(params, "sort"),
            )
            info_hash = selectors.catalogue_filter(params, "info_hash").lower()
            if info_hash:
                releases = releases.filter(
                    Q(torrent__info_hash_v1=info_hash) | Q(torrent__info_hash_v2=info_hash)
                )
            return releases.filter(torrent__isnull=False)
        return (
            selectors.releases_to_look_up(self.request.user)
            .select_related("torrent")
            .prefetch_related("files")
        )

    def get_serializer_class(self):
        if self.action == "create":
            return ReleaseCreateSerializer
        if self.action == "partial_update":
            return ReleaseUpdateSerializer
        return ReleaseDetailSerializer if self.action != "list" else ReleaseSerializer

    def _managed(self, pk) -> Release:
        return managed_release(self.request._request, int(pk))

    def _detail(self, release: Release, status: int = 200) -> Response:
        release = self.get_queryset().get(pk=release.pk)
        return Response(ReleaseDetailSerializer(release, context=self.get_serializer_context()).data, status)

    def create(self, request, *args, **kwargs):
        if not may_publish(request.user):
            raise exceptions.PermissionDenied("Only publishers can publish.")
        declared = ReleaseCreateSerializer(data=request.data)
        declared.is_valid(raise_exception=True)
        data = declared.validated_data
        try:
            product = services.publishable_product(
                product=Product.objects.filter(slug=data["product"]).first(),
                new_name=data["product"],
                user=request.user,
            )
            release = services.start_release(
                product=product,
                version=data["version"],
                notes=data["notes"],
                visibility=data["visibility"],
                audience=data["audience"],
                tags=data["tags"],
                torrent_format=data.get("torrent_format"),
                files=[TorrentFile(path=f["path"], size=f["size"]) for f in data["files"]],
                created_by=request.user,
                request=request._request,
            )
        except services.ReleaseRejected as exc:
            raise Rejected(str(exc)) from None
        state = release_state(release)
        state["complete_url"] = reverse("api-release-finish", args=[release.pk])
        state["release_url"] = settings.FANOUT_PUBLIC_URL + state["release_url"]
        return Response(ReleaseUploadsSerializer(state).data, status=201)

    def update(self, request, *args, **kwargs):
        if not kwargs.get("partial"):
            raise exceptions.MethodNotAllowed("PUT")
        release = self._managed(kwargs["pk"])
        changes = ReleaseUpdateSerializer(data=request.data)
        changes.is_valid(raise_exception=True)
        try:
            tags = changes.validated_data.get("tags")
            services.update_release_details(
                release=release,
                notes=changes.validated_data.get("notes"),
                tags=None if tags is None else services.tags_named(tags),
            )
        except services.ReleaseRejected as exc:
            raise Rejected(str(exc)) from None
        return self._detail(release)

    def destroy(self, request, *args, **kwargs):
        """Delete a draft, uploading or failed release and its files; a published or retired one stays."""
        release = self._managed(kwargs["pk"])
        try:
            services.delete_release(release=release, request=request._request)
        except services.ReleaseRejected as exc:
            raise Conflict(str(exc)) from None
        return Response(status=204)

    def _transition(self, pk, service, status: int = 200) -> Response:
        release = self._managed(pk)
        try:
            service(release=release, request=self.request._request)
        except services.ReleaseRejected as exc:
            raise Conflict(str(exc)) from None
        return self._detail(release, status)

    @extend_schema(parameters=[RELEASE_ID], request=None, responses={202: ReleaseDetailSerializer})
    @action(detail=True, methods=["post"])
    def finish(self, request, pk=None) -> Response:
        """Every file is sent: build the torrent (the release is published once it is built)."""
        return self._transition(pk, services.finish_uploading, 202)

    @extend_schema(parameters=[RELEASE_ID], request=None, responses=ReleaseDetailSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None) -> Response:
        """Build a failed release's torrent again."""
        return self._transition(pk, services.retry_build, 202)

    @extend_schema(parameters=[RELEASE_ID], request=None, responses=ReleaseDetailSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None) -> Response:
        """Stop tracking and seeding a published release."""
        return self._transition(pk, services.retire_release)

    @extend_schema(
        parameters=[
            RELEASE_ID,
            OpenApiParameter("from", str, description="ISO date"),
            OpenApiParameter("to", str),
        ],
        responses=StatisticsSerializer,
    )
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None) -> Response:
        """Per-day statistics of the release, for its product's publishers and staff."""
        release = self._managed(pk)
        start, end = date_range(
            request.query_params.get("from"), request.query_params.get("to"), first_day=first_day_of(release)
        )
        statistics = release_statistics(release, start, end)
        days = [
            {
                "day": row.day,
                **{name: getattr(row, name) for name in (*DAY_ROW_COUNTERS, *DAY_ROW_FIGURES)},
                "offload_ratio": row.offload_ratio,
            }
            for row in statistics.days
        ]
        return Response(StatisticsSerializer({"start": start, "end": end, "days": days}).data)


class ProductViewSet(viewsets.ReadOnlyModelViewSet):
    """Products with at least one release the caller may see."""

    serializer_class = ProductSerializer
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    pagination_class = CataloguePagination

    def get_queryset(self):
        products, _ = selectors.catalogue_filters(self.request.user)
        return products.only("name", "slug", "description").order_by("name")
