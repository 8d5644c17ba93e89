"""The publish page's calls: declare a release's files, say they are all sent, read SHA256SUMS.

The page (static/js/publish.js) declares the files first, so every rule (paths,
duplicates, size limit, quota) is checked before a byte is sent; it then sends
each file with tus (distribution.views.tus) and finally asks for the build.
"""

import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from bittorrent.torrents import TorrentFile
from distribution import selectors, services
from distribution.access import may_create_products, may_publish
from distribution.forms import ReleaseForm
from distribution.models import Release, Upload

MAX_DECLARED_FILES = 10_000
# The page sends a file in PATCH requests of at most this many bytes: small
# enough for proxies' body limits, large enough that requests cost nothing.
TUS_CHUNK_BYTES = 64 * 1024 * 1024


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _declared_files(raw: str) -> list[TorrentFile]:
    try:
        manifest = json.loads(raw)
        if not isinstance(manifest, list) or len(manifest) > MAX_DECLARED_FILES:
            raise ValueError
        return [TorrentFile(path=str(item["path"]), size=int(item["size"])) for item in manifest]
    except (ValueError, TypeError, KeyError):
        raise services.ReleaseRejected(
            f"The file list must be JSON: [{{'path': ..., 'size': ...}}], at most {MAX_DECLARED_FILES}."
        ) from None


def managed_release(request: HttpRequest, release_id: int) -> Release:
    """The release, for those who manage it (``Release.can_be_managed_by``).

    Whoever may not even see it is told it does not exist, as its page tells
    them: a 403 would say that a private release is there.
    """
    release = get_object_or_404(Release.objects.select_related("product"), pk=release_id)
    if not release.can_be_managed_by(request.user):
        if not selectors.can_view_release(request.user, release):
            raise Http404("No such release.")
        raise PermissionDenied("Its product's maintainers and the publisher who made it manage this release.")
    return release


def release_state(release: Release) -> dict:
    uploads = {u.release_file_id: u for u in Upload.objects.filter(release_file__release=release)}
    return {
        "release_id": release.pk,
        "status": release.status,
        "release_url": release.get_absolute_url(),
        "upload_url": reverse("tus-create"),
        "complete_url": reverse("release-uploaded", args=[release.pk]),
        "files": {
            f.path: {
                "size": f.size,
                "offset": uploads[f.pk].offset if f.pk in uploads else 0,
                "complete": f.pk in uploads and uploads[f.pk].is_complete,
                "fingerprint": uploads[f.pk].fingerprint if f.pk in uploads else "",
            }
            for f in release.files.all()
        },
    }


@require_POST
@login_required
def release_start(request: HttpRequest) -> JsonResponse:
    if not may_publish(request.user):
        return _error("Only publishers can do this.", 403)
    form = ReleaseForm(
        request.POST,
        products=selectors.publishable_products(request.user),
        may_create_products=may_create_products(request.user),
    )
    if not form.is_valid():
        messages = [str(m) for errors in form.errors.values() for m in errors]
        return _error(" ".join(messages))
    data = form.cleaned_data
    try:
        files = _declared_files(request.POST.get("manifest", ""))
        product = services.publishable_product(
            product=data["product"], new_name=data["new_product"], user=request.user
        )
        release = services.start_release(
            product=product,
            version=data["version"],
            notes=data["notes"],
            visibility=data["visibility"],
            audience=data["audience"],
            tags=data["tags"],
            torrent_format=data["torrent_format"],
            files=files,
            created_by=request.user,
            request=request,
        )
    except services.ReleaseRejected as exc:
        return _error(str(exc))
    return JsonResponse(release_state(release), status=201)


@require_POST
@login_required
def release_uploaded(request: HttpRequest, release_id: int) -> JsonResponse:
    release = managed_release(request, release_id)
    try:
        services.finish_uploading(release=release, request=request)
    except services.ReleaseRejected as exc:
        return _error(str(exc), 409)
    release.refresh_from_db()
    return JsonResponse(release_state(release))


def release_sha256sums(request: HttpRequest, release_id: int) -> HttpResponse:
    """``sha256sum -c`` input for the release's files, paths as they are inside the torrent."""
    release = get_object_or_404(Release.objects.select_related("product"), pk=release_id)
    if not selectors.can_view_release(request.user, release) or release.status != Release.Status.PUBLISHED:
        raise Http404("This release is not published.")
    prefix = "" if release.is_single_file else release.content_name + "/"
    lines = [f"{f.sha256}  {prefix}{f.path}\n" for f in release.files.all()]
    response = HttpResponse("".join(lines), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = (
        f'inline; filename="{release.product.slug}-{release.version}.SHA256SUMS"'
    )
    return response
