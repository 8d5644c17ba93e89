from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from distribution.views import account, api, catalogue, feeds, publishing, staff, statistics, tus

api_router = DefaultRouter()
api_router.register("releases", api.ReleaseViewSet, basename="api-release")
api_router.register("products", api.ProductViewSet, basename="api-product")

urlpatterns = [
    path("", catalogue.catalogue, name="catalogue"),
    path("releases/<int:release_id>/", catalogue.release_detail, name="release-detail"),
    path("releases/<int:release_id>/progress", catalogue.release_progress, name="release-progress"),
    path("releases/<int:release_id>/torrent", catalogue.release_torrent, name="release-torrent"),
    path("releases/<int:release_id>/magnet", catalogue.release_magnet, name="release-magnet"),
    path("releases/<int:release_id>/files/<path:path>", catalogue.release_file, name="release-file"),
    # Reached by nginx only (deploy/nginx.conf): what it sent of the files above and below.
    path("web-server/sent", statistics.web_server_sent, name="web-server-sent"),
    path("releases/<int:release_id>/seed/", catalogue.release_webseed, name="release-webseed-root"),
    path("releases/<int:release_id>/seed/<path:path>", catalogue.release_webseed, name="release-webseed"),
    path(
        "releases/<int:release_id>/webseed/<str:passkey>/",
        catalogue.release_personal_webseed,
        name="release-personal-webseed-root",
    ),
    path(
        "releases/<int:release_id>/webseed/<str:passkey>/<path:path>",
        catalogue.release_personal_webseed,
        name="release-personal-webseed",
    ),
    path("releases/<int:release_id>/retry", catalogue.release_retry, name="release-retry"),
    path("releases/<int:release_id>/retire", catalogue.release_retire, name="release-retire"),
    path("releases/<int:release_id>/edit", catalogue.release_edit, name="release-edit"),
    path("releases/<int:release_id>/delete", catalogue.release_delete, name="release-delete"),
    path("releases/<int:release_id>/stats", statistics.release_stats, name="release-stats"),
    path("feeds/", feeds.ReleasesFeed(), name="feed-rss"),
    path("feeds/atom/", feeds.AtomReleasesFeed(), name="feed-atom"),
    path("feeds/<slug:product_slug>/", feeds.ReleasesFeed(), name="feed-product-rss"),
    path("feeds/<slug:product_slug>/atom/", feeds.AtomReleasesFeed(), name="feed-product-atom"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include(api_router.urls)),
    path("publish/", catalogue.release_create, name="release-create"),
    path("publish/start", publishing.release_start, name="release-start"),
    path("releases/<int:release_id>/uploaded", publishing.release_uploaded, name="release-uploaded"),
    path("releases/<int:release_id>/SHA256SUMS", publishing.release_sha256sums, name="release-sha256sums"),
    path("uploads/", tus.create, name="tus-create"),
    path("uploads/<uuid:upload_id>", tus.upload, name="tus-upload"),
    path("my/releases/", catalogue.publisher_releases, name="publisher-releases"),
    path("products/<slug:slug>/roles/", staff.product_roles, name="product-roles"),
    path("products/<slug:slug>/roles/revoke", staff.product_role_revoke, name="product-role-revoke"),
    path("staff/users/", staff.users, name="staff-users"),
    path("staff/users/new", staff.user_create, name="staff-user-create"),
    path("staff/users/<int:user_id>/", staff.user_detail, name="staff-user"),
    path("staff/users/<int:user_id>/active", staff.user_active, name="staff-user-active"),
    path("staff/groups/", staff.groups, name="staff-groups"),
    path("staff/groups/<int:group_id>/", staff.group_detail, name="staff-group"),
    path("staff/groups/<int:group_id>/remove", staff.group_remove, name="staff-group-remove"),
    path("staff/products/", staff.products, name="staff-products"),
    path("account/passkey/", account.passkey_page, name="account-passkey"),
    path("account/tokens/", account.tokens_page, name="account-tokens"),
    path("account/tokens/<int:token_id>/revoke", account.revoke_token, name="account-token-revoke"),
]
