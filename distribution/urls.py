from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from distribution import api, dashboard, feeds, metrics, publishing, stats_views, tus, views

api_router = DefaultRouter()
api_router.register("releases", api.ReleaseViewSet, basename="api-release")
api_router.register("products", api.ProductViewSet, basename="api-product")

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("releases/<int:release_id>/", views.release_detail, name="release-detail"),
    path("releases/<int:release_id>/progress", views.release_progress, name="release-progress"),
    path("releases/<int:release_id>/torrent", views.release_torrent, name="release-torrent"),
    path("releases/<int:release_id>/magnet", views.release_magnet, name="release-magnet"),
    path("releases/<int:release_id>/files/", views.release_webseed, name="release-webseed-root"),
    path("releases/<int:release_id>/files/<path:path>", views.release_webseed, name="release-webseed"),
    path("releases/<int:release_id>/retry", views.release_retry, name="release-retry"),
    path("releases/<int:release_id>/retire", views.release_retire, name="release-retire"),
    path("releases/<int:release_id>/stats", stats_views.release_stats, name="release-stats"),
    path("feeds/", feeds.ReleasesFeed(), name="feed-rss"),
    path("feeds/atom/", feeds.AtomReleasesFeed(), name="feed-atom"),
    path("feeds/<slug:product_slug>/", feeds.ReleasesFeed(), name="feed-product-rss"),
    path("feeds/<slug:product_slug>/atom/", feeds.AtomReleasesFeed(), name="feed-product-atom"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/panel", dashboard.dashboard_panel, name="dashboard-panel"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include(api_router.urls)),
    path("publish/", views.release_create, name="release-create"),
    path("publish/start", publishing.release_start, name="release-start"),
    path("releases/<int:release_id>/uploaded", publishing.release_uploaded, name="release-uploaded"),
    path("releases/<int:release_id>/SHA256SUMS", publishing.release_sha256sums, name="release-sha256sums"),
    path("uploads/", tus.create, name="tus-create"),
    path("uploads/<uuid:upload_id>", tus.upload, name="tus-upload"),
    path("my/releases/", views.publisher_releases, name="publisher-releases"),
]
