"""What staff watch: the swarm-health dashboard (a panel htmx refreshes every few seconds) and ``/metrics``.

``/metrics`` is guarded: with FANOUT_METRICS_TOKEN set, a scraper sends
``Authorization: Bearer <token>``; without it (or in addition), a staff session
may read it.
"""

import hmac

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from distribution.views.staff import staff_only
from operations import metrics, swarm_health

RELEASES_PER_PAGE = 50
REFRESH_SECONDS = 3


def _panel_context(request: HttpRequest) -> dict:
    states = swarm_health.swarm_states()
    page = Paginator(states, RELEASES_PER_PAGE).get_page(request.GET.get("page"))
    return {
        "page": page,
        "releases": swarm_health.swarm_details(page.object_list),
        "totals": swarm_health.SwarmTotals.of(states),
        "nodes": swarm_health.seeder_nodes(),
        "statuses": swarm_health.releases_by_status(),
        "failed_builds": swarm_health.failed_builds(),
        "queue_length": swarm_health.build_queue_length(),
        "Health": swarm_health.Health,
        "refresh_seconds": REFRESH_SECONDS,
    }


@staff_only(name="Swarm health")
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "operations/dashboard.html", _panel_context(request))


@staff_only(name="Swarm health")
def dashboard_panel(request: HttpRequest) -> HttpResponse:
    return render(request, "operations/dashboard_panel.html", _panel_context(request))


def _allowed(request: HttpRequest) -> bool:
    token = settings.FANOUT_METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if sent.startswith("Bearer ") and hmac.compare_digest(
            sent[len("Bearer ") :].encode(), token.encode()
        ):
            return True
    return request.user.is_authenticated and request.user.is_staff


def metrics_page(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        response = HttpResponse("Send Authorization: Bearer <FANOUT_METRICS_TOKEN>.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="fanout-metrics"'
        return response
    return HttpResponse(metrics.render_metrics(), content_type=metrics.CONTENT_TYPE)
