"""The signed-in user's own account pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from distribution import access
from distribution.models import Passkey


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def passkey_page(request: HttpRequest) -> HttpResponse:
    """The user's passkey and announce URL; POST regenerates it."""
    if request.method == "POST":
        access.regenerate_passkey(request.user)
        messages.success(
            request, "Your passkey was regenerated: download private releases' .torrent files again."
        )
        return redirect("account-passkey")
    passkey = Passkey.for_user(request.user)
    return render(
        request,
        "distribution/passkey.html",
        {"passkey": passkey, "announce_url": access.announce_url(passkey.key)},
    )
