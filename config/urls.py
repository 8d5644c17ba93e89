from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import defaults


def by_email_only(view):
    """A password reset page, which exists only where mail can be sent (EMAIL_HOST)."""

    def page(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not settings.PASSWORD_RESET_BY_EMAIL:
            raise Http404("Password reset by email is not set up here: ask an administrator.")
        return view(request, *args, **kwargs)

    return page


accounts = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", by_email_only(auth_views.PasswordResetView.as_view()), name="password_reset"),
    path(
        "password_reset/done/",
        by_email_only(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        by_email_only(auth_views.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        by_email_only(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts)),
    path("", include("tracker.urls")),
    path("", include("distribution.urls")),
    path("", include("operations.urls")),
]


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The API's callers are scripts: their 404 is JSON in DRF's shape, the pages' is a page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


handler404 = not_found
