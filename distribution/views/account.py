"""The signed-in user's own account pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from distribution import access
from distribution.api_tokens import issue_api_token, revoke_api_token
from distribution.forms import ApiTokenForm
from distribution.models import Passkey


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def passkey_page(request: HttpRequest) -> HttpResponse:
    """The user's passkey and announce URL; POST regenerates it."""
    if request.method == "POST":
        access.regenerate_passkey(request.user, request=request)
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


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    """The user's API tokens; POST makes one, shown on this answer only."""
    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _, new_token = issue_api_token(
            request.user, name=form.cleaned_data["name"], scope=form.cleaned_data["scope"], request=request
        )
        form = ApiTokenForm()
    return render(
        request,
        "distribution/tokens.html",
        {"tokens": request.user.api_tokens.all(), "form": form, "new_token": new_token},
    )


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(request.user.api_tokens, pk=token_id)
    if revoke_api_token(token, request=request):
        messages.success(request, f"The token {token.name} ({token.prefix}…) is revoked: it no longer works.")
    return redirect("account-tokens")
