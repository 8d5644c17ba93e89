from django.urls import path

from operations import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/panel", views.dashboard_panel, name="dashboard-panel"),
    path("metrics", views.metrics_page, name="metrics"),
]
