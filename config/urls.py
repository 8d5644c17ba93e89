from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import defaults
from django.views.generic import RedirectView

from distribution.views import sign_in


def by_email_only(view):
    """A password reset page, which exists only where mail can be sent (EMAIL_HOST)."""

    def page(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not settings.PASSWORD_RESET_BY_EMAIL:
            raise Http404("Password reset by email is not set up here: ask an administrator.")
        return view(request, *args, **kwargs)

    return page


accounts = [
    path("login/", sign_in.SignInView.as_view(), name="login"),
    path("sso/", sign_in.ProviderRedirectView.as_view(), name="sso-start"),
    path("sso/callback", sign_in.ProviderCallbackView.as_view(), name="sso-callback"),
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
    # One sign-in page, the admin's too: it offers single sign-on, and FANOUT_OIDC_ONLY takes no password.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
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
