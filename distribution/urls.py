from django.urls import path

from distribution import views

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("releases/<int:release_id>/", views.release_detail, name="release-detail"),
    path("releases/<int:release_id>/progress", views.release_progress, name="release-progress"),
    path("releases/<int:release_id>/torrent", views.release_torrent, name="release-torrent"),
    path("releases/<int:release_id>/files/", views.release_webseed, name="release-webseed-root"),
    path("releases/<int:release_id>/files/<path:path>", views.release_webseed, name="release-webseed"),
    path("releases/<int:release_id>/retry", views.release_retry, name="release-retry"),
    path("releases/<int:release_id>/retire", views.release_retire, name="release-retire"),
    path("publish/", views.release_create, name="release-create"),
    path("my/releases/", views.publisher_releases, name="publisher-releases"),
]
