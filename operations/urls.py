from django.urls import path

from operations import api, audit_log, views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/panel", views.dashboard_panel, name="dashboard-panel"),
    path("metrics", views.metrics_page, name="metrics"),
    path("audit/", audit_log.audit_log, name="audit-log"),
    path("audit/export.csv", audit_log.audit_log_csv, name="audit-log-csv"),
    path("api/releases/<int:release_id>/seeding/", api.release_seeding, name="api-release-seeding"),
]
