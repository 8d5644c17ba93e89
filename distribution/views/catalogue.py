"""Pages of the catalogue and of publishers. Views parse, authorize and call services."""

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotFound, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_POST

from bittorrent.metainfo import pieces_roots
from distribution import audit, selectors, services
from distribution.access import (
    magnet_with_passkey,
    may_create_products,
    may_publish,
    passkey_holder,
    torrent_with_passkey,
)
from distribution.byte_ranges import file_response
from distribution.forms import ReleaseDetailsForm, ReleaseForm
from distribution.models import Release, ReleaseFile
from distribution.statistics import add_release_counts, count_file_sent
from distribution.views import publishing
from distribution.web_seed_policy import release_web_seed_pace

PAGE_SIZE = 25
# A release may hold thousands of files: its page lists them this many at a time.
FILES_PER_PAGE = 500


def catalogue(request: HttpRequest) -> HttpResponse:
    filters = {
        name: selectors.catalogue_filter(request.GET, name) for name in ("q", "product", "tag", "sort")
    }
    page = selectors.catalogue_page(
        request.user,
        number=request.GET.get("page"),
        per_page=PAGE_SIZE,
        query=filters["q"],
        product=filters["product"],
        tag=filters["tag"],
        sort=filters["sort"],
    )
    products, tags = selectors.catalogue_filters(request.user)
    # A product or tag with nothing this user may see does not exist for them.
    if filters["product"] and not products.filter(slug=filters["product"]).exists():
        raise Http404("No such product.")
    if filters["tag"] and not tags.filter(slug=filters["tag"]).exists():
        raise Http404("No such tag.")
    kept = {name: value for name, value in filters.items() if value}
    return render(
        request,
        "distribution/catalogue.html",
        {
            "page": page,
            "query": filters["q"],
            "filters": filters,
            "products": products,
            "selected_product": next((p for p in products if p.slug == filters["product"]), None),
            "tags": tags,
            "sorts": selectors.CatalogueSort.CHOICES,
            "current_sort": filters["sort"]
            or (selectors.CatalogueSort.RELEVANCE if filters["q"] else selectors.CatalogueSort.NEWEST),
            "kept_query": urlencode(kept),
        },
    )


def _viewable_release(request: HttpRequest, release_id: int) -> Release:
    release = get_object_or_404(Release.objects.select_related("product"), pk=release_id)
    if not selectors.can_view_release(request.user, release):
        raise Http404("No such release.")
    return release


def release_detail(request: HttpRequest, release_id: int) -> HttpResponse:
    release = _viewable_release(request, release_id)
    return _release_page(request, release)


def _release_page(
    request: HttpRequest, release: Release, details_form: ReleaseDetailsForm | None = None, status: int = 200
) -> HttpResponse:
    can_manage = release.can_be_managed_by(request.user)
    torrent = getattr(release, "torrent", None)
    magnet_uri = torrent.magnet_uri if torrent else ""
    if torrent and not release.is_public:
        # The page shows the viewer's own magnet, which makes their passkey now if they had
        # none: the trackers learn it at their next whitelist refresh, before the page's
        # .torrent or magnet is in a client, whose first announce it then opens.
        magnet_uri = magnet_with_passkey(magnet_uri, request.user, release=release)
    files = Paginator(release.files.all(), FILES_PER_PAGE).get_page(request.GET.get("files"))
    roots = pieces_roots(torrent.metainfo) if torrent and torrent.info_hash_v2 else {}
    for release_file in files:
        release_file.pieces_root = roots.get(release_file.path)
    if can_manage and details_form is None:
        details_form = ReleaseDetailsForm(
            initial={"notes": release.notes, "tags": [tag.name for tag in release.tags.order_by("slug")]}
        )
    response = render(
        request,
        "distribution/release_detail.html",
        {
            "release": release,
            "files": files,
            "has_pieces_roots": bool(roots),
            "torrent": torrent,
            "magnet_uri": magnet_uri,
            "swarm": selectors.release_swarm(release),
            "public_url": settings.FANOUT_PUBLIC_URL,
            "can_manage": can_manage,
            "details_form": details_form,
        },
        status=status,
    )
    _personal_unless_public(response, release)
    return response


def release_progress(request: HttpRequest, release_id: int) -> JsonResponse:
    release = _viewable_release(request, release_id)
    return JsonResponse(
        {
            "status": release.status,
            "pieces_done": release.build_pieces_done,
            "pieces_total": release.build_pieces_total,
            "percent": release.build_percent,
            "failure_reason": release.failure_reason,
        }
    )


def release_torrent(request: HttpRequest, release_id: int) -> HttpResponse:
    release = _viewable_release(request, release_id)
    if release.status != Release.Status.PUBLISHED:
        raise Http404("This release is not published.")
    metainfo = bytes(release.torrent.metainfo)
    if not release.is_public and request.user.is_authenticated:
        # The tracker answers private releases only through the user's passkey URL.
        metainfo = torrent_with_passkey(metainfo, request.user, release=release)
        audit.record("release.torrent_downloaded", request=request, target=release)
    response = HttpResponse(metainfo, content_type="application/x-bittorrent")
    _personal_unless_public(response, release)
    add_release_counts(release_id=release.pk, counts={"torrent_fetches": 1})
    response["Content-Disposition"] = (
        f'attachment; filename="{release.product.slug}-{release.version}.torrent"'
    )
    return response


def release_magnet(request: HttpRequest, release_id: int) -> HttpResponse:
    """Count a magnet fetch, then send the browser on to the magnet URI."""
    release = _viewable_release(request, release_id)
    if release.status != Release.Status.PUBLISHED:
        raise Http404("This release is not published.")
    add_release_counts(release_id=release.pk, counts={"magnet_fetches": 1})
    magnet_uri = release.torrent.magnet_uri
    if not release.is_public and request.user.is_authenticated:
        magnet_uri = magnet_with_passkey(magnet_uri, request.user, release=release)
        audit.record("release.magnet_downloaded", request=request, target=release)
    # HttpResponseRedirect refuses schemes other than http(s) and ftp.
    response = HttpResponse(status=302)
    response["Location"] = magnet_uri
    _personal_unless_public(response, release)
    return response


def _personal_unless_public(response: HttpResponse, release: Release) -> None:
    """A private release's page, .torrent and magnet carry the user's passkey: no cache may keep them."""
    if not release.is_public:
        patch_cache_control(response, private=True, no_store=True)


def release_file(request: HttpRequest, release_id: int, path: str) -> HttpResponse:
    """A file of the release for a browser or a script, read with the session if any: the release
    page's direct downloads, at full rate. Its path is the web seed's, as torrents before the
    ``seed/`` route named this one."""
    release_file = _published_file(request, release_id, path)
    release = release_file.release
    if not release.is_public:
        audit.record_once_a_day("release.file_downloaded", request=request, target=release)
    return _send_release_file(request, release_file, paced=False)


def release_webseed(request: HttpRequest, release_id: int, path: str = "") -> HttpResponse:
    """A file of the release at the URL a BEP 19 web seed asks for: <root>/<name>[/<path>].

    Public torrents name this route: BitTorrent clients alone use it, paced by
    the web seed policy (full rate only while the swarm has no complete copy).
    """
    return _send_release_file(request, _published_file(request, release_id, path), paced=True)


def _published_file(request: HttpRequest, release_id: int, path: str) -> ReleaseFile:
    release = _viewable_release(request, release_id)
    if release.status != Release.Status.PUBLISHED:
        raise Http404("This release is not published.")
    release_file = _web_seed_file(release, path)
    if release_file is None:
        raise Http404("No such file in this release.")
    return release_file


def release_personal_webseed(
    request: HttpRequest, release_id: int, passkey: str, path: str = ""
) -> HttpResponse:
    """``release_webseed`` for BitTorrent clients, which send no cookies: the passkey stands for its holder.

    A key that is unknown, replaced or an inactive user's, a release its holder
    may not see or that is not published, and a file it does not hold all get
    the one 404, so the answer tells nothing about keys or releases. A public
    release is served too: its holder may see it, and no torrent of one names
    this URL. Never cached: the URL is a credential.
    """
    holder = passkey_holder(passkey)
    release = (
        Release.objects.select_related("product")
        .filter(pk=release_id, status=Release.Status.PUBLISHED)
        .first()
    )
    release_file = None
    if holder is not None and release is not None and selectors.can_view_release(holder, release):
        release_file = _web_seed_file(release, path)
    if release_file is None:
        # Plain and the same for every refusal: the site's 404 page would echo the path, passkey and all.
        response = HttpResponseNotFound("No such file.\n", content_type="text/plain; charset=utf-8")
    else:
        if not release.is_public:
            audit.record_once_a_day("release.web_seed_used", actor=holder, request=request, target=release)
        response = _send_release_file(request, release_file, paced=True)
    patch_cache_control(response, private=True, no_store=True)
    return response


def _web_seed_file(release: Release, path: str) -> ReleaseFile | None:
    """The file a web seed asks for as ``<name>`` (single-file release) or ``<name>/<path>``."""
    if release.is_single_file:
        relative = path
    else:
        prefix = release.content_name + "/"
        if not path.startswith(prefix):
            return None
        relative = path[len(prefix) :]
    return release.files.filter(path=relative).first()


def _send_release_file(request: HttpRequest, release_file: ReleaseFile, *, paced: bool) -> HttpResponse:
    """The file, or the range of it asked for, counted in its release's statistics; a web seed's
    at the pace the web seed policy sets."""
    release_id = release_file.release_id
    return file_response(
        request,
        release_file.disk_path,
        download_name=Path(release_file.path).name,
        on_sent=lambda sent: count_file_sent(release_id=release_id, sent=sent, web_seed=paced),
        pace=(lambda: release_web_seed_pace(release_id)) if paced else None,
    )


def _require_publisher(request: HttpRequest) -> None:
    if not may_publish(request.user):
        raise PermissionDenied("Only publishers can do this.")


@login_required
def publisher_releases(request: HttpRequest) -> HttpResponse:
    _require_publisher(request)
    return render(
        request,
        "distribution/publisher_releases.html",
        {
            "releases": selectors.publisher_releases(request.user),
            "maintained": selectors.maintained_products(request.user),
        },
    )


@login_required
def release_create(request: HttpRequest) -> HttpResponse:
    _require_publisher(request)
    products = selectors.publishable_products(request.user)
    form = ReleaseForm(
        request.POST or None,
        request.FILES or None,
        products=products,
        may_create_products=may_create_products(request.user),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            product = services.publishable_product(
                product=data["product"], new_name=data["new_product"], user=request.user
            )
            release = services.create_release(
                product=product,
                version=data["version"],
                notes=data["notes"],
                visibility=data["visibility"],
                audience=data["audience"],
                tags=data["tags"],
                torrent_format=data["torrent_format"],
                files=[_incoming(upload) for upload in data["files"]],
                created_by=request.user,
                request=request,
            )
        except services.ReleaseRejected as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{release} is uploaded; its torrent is being built.")
            return redirect(release)
    return render(
        request, "distribution/release_form.html", {"form": form, "chunk_size": publishing.TUS_CHUNK_BYTES}
    )


def _incoming(upload) -> services.IncomingFile:
    if isinstance(upload, TemporaryUploadedFile):
        return services.IncomingFile(
            path=upload.name, size=upload.size, source=Path(upload.temporary_file_path()), temporary=True
        )
    return services.IncomingFile(path=upload.name, size=upload.size, source=upload)


@require_POST
@login_required
def release_retry(request: HttpRequest, release_id: int) -> HttpResponse:
    return _act(request, release_id, services.retry_build, "The torrent build was queued again.")


@require_POST
@login_required
def release_retire(request: HttpRequest, release_id: int) -> HttpResponse:
    return _act(
        request,
        release_id,
        services.retire_release,
        "{release} is retired: it is no longer tracked or seeded.",
    )


@require_POST
@login_required
def release_delete(request: HttpRequest, release_id: int) -> HttpResponse:
    return _act(
        request,
        release_id,
        services.delete_release,
        "{release} is deleted, and its files with it.",
        then="publisher-releases",
    )


def _act(
    request: HttpRequest, release_id: int, service: Callable[..., None], done: str, then: str | None = None
) -> HttpResponse:
    """A publisher's button on the release page: the service, then its outcome as a message.

    Refused, back to the release's page; done, to ``then`` (the release's page by default).
    """
    release = publishing.managed_release(request, release_id)
    try:
        service(release=release, request=request)
    except services.ReleaseRejected as exc:
        messages.error(request, str(exc))
        return redirect(release)
    messages.success(request, done.format(release=release))
    return redirect(then or release)


@require_POST
@login_required
def release_edit(request: HttpRequest, release_id: int) -> HttpResponse:
    """The release page's notes and tags, changed by its publishers."""
    release = publishing.managed_release(request, release_id)
    form = ReleaseDetailsForm(request.POST)
    if form.is_valid():
        try:
            services.update_release_details(
                release=release,
                notes=form.cleaned_data["notes"],
                tags=services.tags_named(form.cleaned_data["tags"]),
            )
        except services.ReleaseRejected as exc:
            form.add_error("tags", str(exc))
        else:
            messages.success(request, "The notes and tags are saved.")
            return redirect(release)
    return _release_page(request, release, details_form=form, status=400)
