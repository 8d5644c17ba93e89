"""The admins' swarm-health dashboard: a page whose panel htmx refreshes every few seconds."""

from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from distribution import swarm_health

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


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "distribution/dashboard.html", _panel_context(request))


@staff_member_required
def dashboard_panel(request: HttpRequest) -> HttpResponse:
    return render(request, "distribution/dashboard_panel.html", _panel_context(request))
