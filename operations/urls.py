from django.urls import path

from operations import api, views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/panel", views.dashboard_panel, name="dashboard-panel"),
    path("metrics", views.metrics_page, name="metrics"),
    path("api/releases/<int:release_id>/seeding/", api.release_seeding, name="api-release-seeding"),
]
