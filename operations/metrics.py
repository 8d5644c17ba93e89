"""The dashboard's figures in Prometheus' text format, served at ``/metrics`` by operations.views."""

from operations import swarm_health

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_COUNTERS = (
    ("completed", "fanout_completed_downloads_total", "Completed downloads reported to the tracker."),
    ("torrent_fetches", "fanout_torrent_fetches_total", ".torrent files served."),
    ("magnet_fetches", "fanout_magnet_fetches_total", "Magnet links followed."),
    ("http_requests", "fanout_http_requests_total", "Web seed and direct download requests."),
    ("http_bytes", "fanout_http_bytes_total", "Bytes served over HTTP (web seed and direct)."),
    ("web_seed_bytes", "fanout_web_seed_bytes_total", "Of those, the bytes the web seed served."),
    ("origin_bytes", "fanout_origin_uploaded_bytes_total", "Bytes the origin's seeders uploaded."),
    (
        "reported_downloaded_bytes",
        "fanout_reported_downloaded_bytes_total",
        "Bytes peers reported downloading.",
    ),
)


def _escape(label: str) -> str:
    return label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics() -> str:
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lines.append(
                f"{name}{labels} {value:g}" if isinstance(value, float) else f"{name}{labels} {value}"
            )

    totals = swarm_health.SwarmTotals.of(swarm_health.swarm_states())
    metric("fanout_swarms", "gauge", "Published releases (tracked swarms).", [("", totals.releases)])
    metric(
        "fanout_swarms_with_peers",
        "gauge",
        "Swarms with at least one peer.",
        [("", totals.swarms_with_peers)],
    )
    metric(
        "fanout_peers",
        "gauge",
        "Peers in all swarms, as last sampled.",
        [('{role="seeder"}', totals.seeders), ('{role="leecher"}', totals.leechers)],
    )
    metric(
        "fanout_unhealthy_swarms",
        "gauge",
        "Swarms by problem.",
        [
            ('{problem="no_seeder"}', totals.no_seeder),
            ('{problem="stalled"}', totals.stalled),
            ('{problem="origin_down"}', totals.origin_down),
            ('{problem="data_missing"}', totals.data_missing),
        ],
    )
    metric(
        "fanout_tracker_announces_per_second",
        "gauge",
        "Estimated announce rate: peers divided by the announce interval.",
        [("", float(totals.announces_per_second))],
    )
    counters = swarm_health.all_time_counters([field for field, _, _ in _COUNTERS])
    for field, name, help_text in _COUNTERS:
        metric(name, "counter", help_text, [("", counters[field])])
    metric(
        "fanout_releases",
        "gauge",
        "Releases by status (builds: processing, failed).",
        [(f'{{status="{status}"}}', n) for status, n in swarm_health.releases_by_status().items()],
    )
    queue = swarm_health.build_queue_length()
    if queue is not None:
        metric("fanout_task_queue_length", "gauge", "Tasks waiting in Celery's default queue.", [("", queue)])
    nodes = list(swarm_health.seeder_nodes())
    metric(
        "fanout_seeder_up",
        "gauge",
        "1 if the seeder node's heartbeat is recent.",
        [(f'{{node="{_escape(node.name)}"}}', int(node.alive)) for node in nodes],
    )
    metric(
        "fanout_seeder_upload_bytes_per_second",
        "gauge",
        "Seeder node upload rate.",
        [(f'{{node="{_escape(node.name)}"}}', node.upload_rate) for node in nodes],
    )
    metric(
        "fanout_seeder_releases_seeded",
        "gauge",
        "Releases each seeder node seeds.",
        [(f'{{node="{_escape(node.name)}"}}', node.releases_seeded) for node in nodes],
    )
    return "\n".join(lines) + "\n"
