"""The health checks of docker-compose.yml's Fanout services: exit 0 when the service does its work.

    python deploy/healthcheck.py web --port P        the catalogue, asked for as the front asks
    python deploy/healthcheck.py tracker --port P    a scrape, answered in bencode
    python deploy/healthcheck.py seeder --name NODE  the node's heartbeat in the database
    python deploy/healthcheck.py beat                the schedule file, which beat writes as it runs

The worker's is Celery's own (`celery -A config inspect ping`).
"""

import argparse
import http.client
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
# The catalogue page: Django, its templates and the database, as a visitor first meets them.
WEB_PATH = "/"
TIMEOUT = 5.0
# Beat writes its schedule file at least every 3 minutes (Celery's PersistentScheduler.sync_every).
BEAT_SYNC_SECONDS = 180


def web(port: int) -> str | None:
    from django.conf import settings

    # As the front asks: for the public name (ALLOWED_HOSTS), over HTTPS (no redirect to it).
    headers = {"Host": urlsplit(settings.FANOUT_PUBLIC_URL).netloc}
    if settings.SECURE_PROXY_SSL_HEADER:
        header, value = settings.SECURE_PROXY_SSL_HEADER
        headers[header.removeprefix("HTTP_").replace("_", "-")] = value
    status, _ = _get(port, WEB_PATH, headers)
    return None if status == 200 else f"{WEB_PATH} answered {status}"


def tracker(port: int) -> str | None:
    from bittorrent import bencode

    status, body = _get(port, "/scrape?info_hash=" + "%00" * 20, {})
    if status != 200:
        return f"/scrape answered {status}"
    answer = bencode.decode(body)
    if b"failure reason" in answer:
        return f"/scrape failed: {answer[b'failure reason'].decode(errors='replace')}"
    return None


def seeder(name: str) -> str | None:
    import django

    django.setup()
    from seeder.models import SeederNode

    node = SeederNode.objects.filter(name=name).first()
    if node is None:
        return f"no seeder node {name} in the database"
    return None if node.is_alive else f"seeder node {name}: last heartbeat at {node.last_heartbeat_at}"


def beat() -> str | None:
    from django.conf import settings

    schedule = Path(settings.CELERY_BEAT_SCHEDULE_FILENAME)
    # The file's name may get a suffix from the dbm module that shelve picks.
    written = [path.stat().st_mtime for path in schedule.parent.glob(f"{schedule.name}*")]
    if not written:
        return f"no schedule file {schedule}"
    age = time.time() - max(written)
    return None if age < 2 * BEAT_SYNC_SECONDS else f"{schedule} not written for {age:.0f} s"


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    services = parser.add_subparsers(dest="service", required=True)
    for name in ("web", "tracker"):
        services.add_parser(name).add_argument("--port", type=int, required=True)
    services.add_parser("seeder").add_argument("--name", required=True)
    services.add_parser("beat")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        if args.service == "seeder":
            problem = seeder(args.name)
        elif args.service == "beat":
            problem = beat()
        else:
            problem = {"web": web, "tracker": tracker}[args.service](args.port)
    except (OSError, http.client.HTTPException) as error:
        problem = f"{args.service}: {error}"
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
