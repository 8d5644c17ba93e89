from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import defaults

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
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
