#!/usr/bin/env python
"""`make bench-catalogue`: page times of the catalogue, its search and the swarm dashboard at scale.

In a throw-away database (PostgreSQL when one answers on 127.0.0.1:5432 or
DATABASE_URL names one, else SQLite) it stores 10,000 published releases of
100 products, their files, torrents and tags, a year of daily statistics for
each (3.65 million ReleaseDayStats rows), a day of hourly swarm samples,
each release's ReleaseTotals as migration 0006 fills them from those rows, and
three seeder nodes seeding everything. It then times whole requests through
Django (URL routing, middleware, queries, templates):

    catalogue   GET /                   anonymous, first page, newest first
    search      GET /?q=WORD            anonymous, words that match a few to thousands of releases
    dashboard   GET /dashboard/         staff, the swarm-health page

and prints each one's median and p95. The last line is the summary:
``catalogue_p95_ms= search_p95_ms= dashboard_p95_ms=``.

    python bench/bench_catalogue.py [--releases 10000] [--days 365] [--requests 200]
                                    [--database auto|postgres|sqlite]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as `python bench/bench_catalogue.py`: the project's packages import from its root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.processes import prepare_instance

PG_SERVER = "postgres://postgres@127.0.0.1:5432"
# From a few matches to thousands: a product, a platform, a version, words of the notes and file names.
SEARCHES = ("atlas", "linux", "2.4", "symbols", "nightly build", "x86_64 iso", "zephyr 3", "orion source")


def postgres_answers() -> bool:
    try:
        return (
            subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"], timeout=5).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def choose_database(choice: str, data_dir: Path) -> tuple[str, str | None]:
    """The DATABASE_URL to use and, for a database of our own on the server, its name."""
    if os.environ.get("DATABASE_URL", "").startswith("postgres") and choice != "sqlite":
        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    elif choice == "postgres" or (choice == "auto" and postgres_answers()):
        base = PG_SERVER
    else:
        return f"sqlite:///{data_dir / 'bench.sqlite3'}", None
    name = f"fanout_bench_catalogue_{os.getpid()}"
    return f"{base}/{name}", name


def on_server(url: str, statement: str) -> None:
    """CREATE or DROP DATABASE: outside any transaction, on the server's maintenance database."""
    import psycopg2

    connection = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def fill(releases: int, days: int) -> None:
    """The catalogue's data, written in bulk (set-based SQL on PostgreSQL)."""
    import datetime
    import hashlib
    import random
    from importlib import import_module

    from django.apps import apps as django_apps
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from distribution.models import Product, Release, ReleaseDayStats, ReleaseFile, SwarmSample, Tag, Torrent
    from seeder.models import SeederNode, Seeding

    rng = random.Random(7)
    now = timezone.now()
    words = ["atlas", "zephyr", "orion", "nimbus", "quartz", "helix", "vector", "lumen", "aurora", "delta"]
    platforms = ["linux-x86_64", "linux-arm64", "windows-x64", "macos-universal", "source"]
    with transaction.atomic():
        products = Product.objects.bulk_create(
            Product(name=f"{words[i % 10].title()} {i // 10 or ''}".strip(), slug=f"{words[i % 10]}-{i}")
            for i in range(100)
        )
        tags = Tag.objects.bulk_create(
            Tag(name=name, slug=name) for name in ("stable", "beta", "nightly", "lts", "security")
        )
        rows = []
        for i in range(releases):
            product = products[i % len(products)]
            kind = rng.choice(["stable", "stable", "beta", "nightly build"])
            rows.append(
                Release(
                    product=product,
                    version=f"{i // 100}.{i % 100}.{rng.randrange(10)}",
                    notes=f"{product.name} {kind} release.\n\n- fixes {rng.randrange(1000)} issues\n"
                    f"- {rng.choice(['faster hashing', 'new installer', 'debug symbols', 'smaller images'])}",
                    visibility="private" if i % 10 == 3 else "public",
                    status=Release.Status.PUBLISHED,
                    torrent_format="v1",
                    content_name=f"{product.slug}-{i}",
                    created_at=now - datetime.timedelta(minutes=releases - i),
                    published_at=now - datetime.timedelta(minutes=releases - i),
                )
            )
        created = Release.objects.bulk_create(rows, batch_size=2000)
        files, torrents, tag_links = [], [], []
        for release in created:
            for n, platform in enumerate(rng.sample(platforms, rng.randint(1, 3))):
                files.append(
                    ReleaseFile(
                        release=release,
                        path=f"{release.content_name}-{platform}.{'iso' if n == 0 else 'tar.gz'}",
                        size=rng.randint(10**6, 8 * 10**9),
                        sha256=hashlib.sha256(f"{release.pk}-{n}".encode()).hexdigest(),
                    )
                )
            digest = hashlib.sha256(str(release.pk).encode()).hexdigest()
            torrents.append(
                Torrent(
                    release=release,
                    info_hash_v1=digest[:40],
                    piece_length=4 * 2**20,
                    piece_count=100,
                    metainfo=b"d4:infod4:name3:abcee" + b"0" * 2000,
                    magnet_uri=f"magnet:?xt=urn:btih:{digest[:40]}",
                )
            )
            tag_links.append(Release.tags.through(release=release, tag=tags[release.pk % len(tags)]))
        ReleaseFile.objects.bulk_create(files, batch_size=5000)
        Torrent.objects.bulk_create(torrents, batch_size=2000)
        Release.tags.through.objects.bulk_create(tag_links, batch_size=5000)
        nodes = SeederNode.objects.bulk_create(
            SeederNode(name=f"seed-{n}", listen_port=6881 + n, version="bench", upload_rate=50 * 2**20)
            for n in range(3)
        )
        Seeding.objects.bulk_create(
            (
                Seeding(node=node, release=release, state=Seeding.State.SEEDING)
                for node in nodes
                for release in created
            ),
            batch_size=5000,
        )
        get_user_model().objects.create_user("bench-admin", password="bench-password-1", is_staff=True)

    first_day = now.date() - datetime.timedelta(days=days - 1)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {ReleaseDayStats._meta.db_table}
                    (release_id, day, torrent_fetches, magnet_fetches, completed, http_requests, http_bytes,
                     origin_bytes, reported_uploaded_bytes, reported_downloaded_bytes)
                SELECT r.id, %s::date + d, (r.id * 7 + d) %% 40, (r.id + d) %% 9, (r.id * 3 + d * 5) %% 60,
                       (r.id + d) %% 11, ((r.id + d) %% 11) * 1048576, ((r.id + d) %% 13) * 104857600,
                       ((r.id * 3 + d * 5) %% 60) * 104857600, ((r.id * 3 + d * 5) %% 60) * 209715200
                FROM {Release._meta.db_table} r CROSS JOIN generate_series(0, %s) AS d
                """,
                [first_day, days - 1],
            )
            cursor.execute(
                f"""
                INSERT INTO {SwarmSample._meta.db_table} (release_id, taken_at, seeders, leechers)
                SELECT r.id, now() - make_interval(hours => h), (r.id + h) %% 25, (r.id * 7 + h) %% 17
                FROM {Release._meta.db_table} r CROSS JOIN generate_series(0, %s) AS h
                """,
                [23],
            )
    else:
        ids = list(Release.objects.values_list("pk", flat=True))
        with transaction.atomic():
            for start in range(0, len(ids), 200):
                ReleaseDayStats.objects.bulk_create(
                    (
                        ReleaseDayStats(
                            release_id=pk,
                            day=first_day + datetime.timedelta(days=d),
                            torrent_fetches=(pk * 7 + d) % 40,
                            magnet_fetches=(pk + d) % 9,
                            completed=(pk * 3 + d * 5) % 60,
                            http_requests=(pk + d) % 11,
                            origin_bytes=((pk + d) % 13) * 104857600,
                            reported_downloaded_bytes=((pk * 3 + d * 5) % 60) * 209715200,
                        )
                        for pk in ids[start : start + 200]
                        for d in range(days)
                    ),
                    batch_size=5000,
                )
            SwarmSample.objects.bulk_create(
                (
                    SwarmSample(
                        release_id=pk,
                        taken_at=now - datetime.timedelta(hours=h),
                        seeders=(pk + h) % 25,
                        leechers=(pk * 7 + h) % 17,
                    )
                    for pk in ids
                    for h in range(24)
                ),
                batch_size=5000,
            )
    # The rows above bypass distribution.statistics: their ReleaseTotals are
    # what migration 0006 gives rows that existed before it.
    import_module("distribution.migrations.0006_release_totals").backfill_totals(django_apps, None)
    with connection.cursor() as cursor:
        # VACUUM as autovacuum would by now: it also moves the rows inserted
        # since the GIN indexes were made out of their pending lists.
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def timed(client, urls: list[str], requests: int) -> list[float]:
    for url in urls:  # warm caches and connections
        assert client.get(url).status_code == 200, url
    times = []
    for n in range(requests):
        url = urls[n % len(urls)]
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[94]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    options = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="fanout-bench-catalogue-"))
    database_url, pg_name = choose_database(options.database, data_dir)
    if pg_name:
        on_server(database_url, f'CREATE DATABASE "{pg_name}"')
    try:
        prepare_instance(data_dir, DATABASE_URL=database_url, ALLOWED_HOSTS="testserver,localhost")
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        call_command("migrate", verbosity=0)
        engine = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
        started = time.perf_counter()
        fill(options.releases, options.days)
        print(
            f"{engine}: {options.releases:,} releases, {options.releases * options.days:,} daily "
            f"statistics rows, stored in {time.perf_counter() - started:.1f} s",
            flush=True,
        )

        anonymous, staff = Client(), Client()
        assert staff.login(username="bench-admin", password="bench-password-1")
        results = {
            "catalogue": timed(anonymous, ["/"], options.requests),
            "search": timed(
                anonymous, [f"/?q={word.replace(' ', '+')}" for word in SEARCHES], options.requests
            ),
            "dashboard": timed(staff, ["/dashboard/"], options.requests),
        }
        for name, times in results.items():
            print(
                f"{name:10} median {statistics.median(times):7.1f} ms   p95 {p95(times):7.1f} ms"
                f"   ({len(times)} requests)"
            )
        connection.close()
    finally:
        if pg_name:
            on_server(database_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(data_dir, ignore_errors=True)
    print(" ".join(f"{name}_p95_ms={p95(times):.1f}" for name, times in results.items()))


if __name__ == "__main__":
    main()
