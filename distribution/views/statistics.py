"""The per-release statistics page and its CSV, for the product's publishers and staff."""

import csv

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from distribution.models import Release
from distribution.statistics import CSV_COLUMNS, DAY_ROW_COUNTERS, date_range, release_statistics
from distribution.views.publishing import managed_release


@login_required
def release_stats(request: HttpRequest, release_id: int) -> HttpResponse:
    release = managed_release(request, release_id)
    start, end = date_range(request.GET.get("from"), request.GET.get("to"))
    statistics = release_statistics(release, start, end)
    if request.GET.get("format") == "csv":
        return _csv(release, statistics)
    return render(
        request,
        "distribution/release_stats.html",
        {"release": release, "statistics": statistics, "chart_data": statistics.chart_data()},
    )


def _csv(release: Release, statistics) -> HttpResponse:
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
                row.origin_sent_bytes,
                "" if ratio is None else f"{ratio:.3f}",
            ]
        )
    return response
