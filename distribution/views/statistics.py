"""The per-release statistics page and its CSV, for the product's publishers and staff; and the
web server's report of the release files it sent."""

import csv
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from distribution.models import Release
from distribution.statistics import (
    CSV_COLUMNS,
    DAY_ROW_COUNTERS,
    DAY_ROW_FIGURES,
    ReleaseStatistics,
    count_file_sent,
    date_range,
    first_day_of,
    release_statistics,
)
from distribution.views import catalogue
from distribution.views.publishing import managed_release

# The views whose files the web server sends (X-Accel-Redirect), and whether a web seed asked.
_FILE_VIEWS = {
    catalogue.release_file: False,
    catalogue.release_webseed: True,
    catalogue.release_personal_webseed: True,
}
# The answers that carried a file or a range of it.
_FILE_SENT = {"200", "206"}


@login_required
def release_stats(request: HttpRequest, release_id: int) -> HttpResponse:
    release = managed_release(request, release_id)
    start, end = date_range(request.GET.get("from"), request.GET.get("to"), first_day=first_day_of(release))
    statistics = release_statistics(release, start, end)
    if request.GET.get("format") == "csv":
        return _csv(release, statistics)
    return render(
        request,
        "distribution/release_stats.html",
        {"release": release, "statistics": statistics, "chart_data": statistics.chart_data()},
    )


def _csv(release: Release, statistics: ReleaseStatistics) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"{release.product.slug}-{release.version}-{statistics.start}-{statistics.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in statistics.days:
        ratio = row.offload_ratio
        writer.writerow(
            [
                row.day.isoformat(),
                *(getattr(row, name) for name in DAY_ROW_COUNTERS),
                *(_csv_value(getattr(row, name)) for name in DAY_ROW_FIGURES),
                "" if ratio is None else f"{ratio:.3f}",
            ]
        )
    return response


def _csv_value(value: int | float) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


@csrf_exempt
@require_POST
def web_server_sent(request: HttpRequest) -> HttpResponse:
    """nginx's word, once it is done with a file Django handed it (deploy/nginx.conf's
    ``post_action``): the client's request, the status and the body bytes the client took.

    Counted here, not when Django answers, because a client may leave before the end of its
    range, and a held-back web seed's client often does. nginx alone reaches this route: it
    answers 404 to it from outside. Without FANOUT_X_ACCEL_REDIRECT no nginx sends files, Django
    counts what it sends itself, and the route is not there (a reachable Django port would
    otherwise take anyone's report).
    """
    if not settings.FANOUT_X_ACCEL_REDIRECT:
        raise Http404("No web server sends files for this instance.")
    try:
        uri = request.headers["X-Fanout-Request-URI"]
        status = request.headers["X-Fanout-Status"]
        sent = int(request.headers["X-Fanout-Body-Bytes-Sent"])
        match = resolve(unquote(urlsplit(uri).path))
    except (KeyError, ValueError, Resolver404) as error:
        raise Http404("Not a report of a release file sent.") from error
    web_seed = _FILE_VIEWS.get(match.func)
    if web_seed is None:
        raise Http404("Not a release file's route.")
    if status in _FILE_SENT:
        count_file_sent(release_id=match.kwargs["release_id"], sent=sent, web_seed=web_seed)
    return HttpResponse(status=204)
