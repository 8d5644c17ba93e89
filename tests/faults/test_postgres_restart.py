"""PostgreSQL restarted under a running instance (web, worker, tracker, seeder), each left running:
pages render, builds complete, the tracker learns new releases and the seeder's heartbeat goes on."""

import os
import re
import time

import psycopg2
import pytest

from bittorrent import bencode
from harness.loopback import free_port
from harness.polling import wait_until
from harness.private_servers import wait_until_closed
from harness.processes import CELERY, MANAGE
from tests.conftest import subprocess_env
from tests.faults.conftest import http_get, web_argv
from tests.tracker.conftest import announce_query

pytestmark = pytest.mark.slow

REQUEST_TIMEOUT = 10.0


def get(port: int, path: str) -> tuple[int, bytes]:
    return http_get(port, path, timeout=REQUEST_TIMEOUT)


def query(url: str, sql: str, *arguments: object) -> list[tuple]:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(sql, arguments)
        rows = cursor.fetchall()
    connection.close()
    return rows


def test_every_process_rides_out_a_postgres_restart(private_postgres, start_process, tmp_path):
    private_postgres.create_database("fanout")
    database_url = private_postgres.url("fanout")
    web_port, tracker_port, seeder_port = free_port(), free_port(), free_port()
    data_dir = tmp_path / "instance"
    (data_dir / "staticfiles").mkdir(parents=True)
    env = subprocess_env(
        DATABASE_URL=database_url,
        FANOUT_DATA_DIR=str(data_dir),
        FANOUT_PUBLIC_URL=f"http://127.0.0.1:{web_port}",
        FANOUT_ANNOUNCE_URL=f"http://127.0.0.1:{tracker_port}/announce",
        FANOUT_TRACKER_WHITELIST_REFRESH="1",
        # The tracker keeps its swarms in memory and writes their statistics itself, every second.
        FANOUT_TRACKER_STATS_FLUSH_SECONDS="1",
    )
    env.pop("REDIS_URL", None)  # the embedded broker and swarm store: only PostgreSQL is shared
    for step in (["migrate", "--no-input"], ["ensure_admin"]):
        prepared = start_process(step[0], [*MANAGE, *step], env)
        assert prepared.wait_for_exit(180) == 0, prepared.transcript()
    admin = query(database_url, "SELECT username FROM auth_user WHERE is_superuser")[0][0]
    made = start_process(
        "passkey",
        [*MANAGE, "shell", "-c"]
        + [
            "from django.contrib.auth import get_user_model; from distribution.models import Passkey; "
            f"print('passkey', Passkey.for_user(get_user_model().objects.get(username={admin!r})).key)"
        ],
        env,
    )
    assert made.wait_for_exit(60) == 0, made.transcript()
    passkey = made.wait_for(r"^passkey (\S+)$")[1]

    web = start_process(
        "web",
        web_argv(web_port),
        env,
    )
    # Stopped as `make run` and compose stop it (SIGTERM taken as SIGQUIT: at once).
    worker = start_process(
        "worker",
        [*CELERY, "worker", "--loglevel", "INFO", "--concurrency", "1"],
        {**env, "REMAP_SIGTERM": "SIGQUIT"},
    )
    tracker = start_process(
        "tracker",
        [*MANAGE, "runtracker", "--host", "127.0.0.1", "--http-port", str(tracker_port), "--udp-port", "0"],
        env,
    )
    seeder = start_process(
        "seeder", [*MANAGE, "runseeder", "--name", "pg-fault", "--port", str(seeder_port)], env
    )
    web.wait_for_port(web_port)
    worker.wait_for(r"celery@\S+ ready", timeout=60)
    tracker.wait_for(r"tracker listening on http://")
    seeder.wait_for(r"seeder pg-fault listening on port")
    services = [web, worker, tracker, seeder]

    def publish(version: str) -> None:
        source = tmp_path / f"atlas-{version}.bin"
        source.write_bytes(os.urandom(2 * 1024 * 1024 + 17))
        published = start_process(
            f"publish {version}",
            [*MANAGE, "publish", str(source), "--product", "atlas", "--version", version, "--private"]
            + ["--wait", "--timeout", "120"],
            env,
        )
        assert published.wait_for_exit(150) == 0, published.transcript()
        assert "published and seeding" in published.transcript()

    # Every process has used its connections before the restart.
    publish("1.0")
    assert get(web_port, "/")[0] == 200

    first_release, first_hash = query(
        database_url,
        "SELECT r.id, t.info_hash_v1 FROM distribution_torrent t"
        " JOIN distribution_release r ON r.id = t.release_id WHERE r.version = %s",
        "1.0",
    )[0]
    downloader = {"peer_id": b"-LT2110-pg-restarted", "port": 7004}

    def announce(info_hash: str, **params: object) -> dict:
        query_string = announce_query(bytes.fromhex(info_hash), **downloader, **params).decode()
        status, body = get(tracker_port, f"/announce/{passkey}?{query_string}")
        assert status == 200, body
        return bencode.decode(body)

    assert b"failure reason" not in announce(first_hash, left=100, event="started")
    restarted_at = query(database_url, "SELECT now()")[0][0]
    private_postgres.stop()
    wait_until_closed(private_postgres.port)

    # The tracker answers from memory meanwhile; its statistics wait for the database.
    assert b"failure reason" not in announce(first_hash, left=0, event="completed")
    time.sleep(2.5)  # two of its flushes find the database gone

    private_postgres.start()

    # Pages: each of the web's threads held a connection the restart cut.
    for _ in range(8):
        status, body = get(web_port, "/")
        assert status == 200, body[:2000]
    # A build (worker) after the restart, and the seeder seeding it.
    publish("1.1")
    # The tracker reloaded its releases: it serves the new private one to the user's passkey.
    info_hash = query(
        database_url,
        "SELECT t.info_hash_v1 FROM distribution_torrent t JOIN distribution_release r ON r.id = t.release_id"
        " WHERE r.version = %s",
        "1.1",
    )[0][0]
    answer = get(tracker_port, f"/announce/{passkey}?" + announce_query(bytes.fromhex(info_hash)).decode())
    assert answer[0] == 200 and b"failure reason" not in bencode.decode(answer[1]), answer
    # The download completed during the outage is counted, once.
    completed = "SELECT completed FROM distribution_releasetotals WHERE release_id = %s"
    wait_until(
        lambda: query(database_url, completed, first_release) == [(1,)],
        timeout=15,
        what="the completion to be counted",
    )
    # The seeder's heartbeat goes on.
    wait_until(
        lambda: (
            query(database_url, "SELECT max(last_heartbeat_at) FROM seeder_seedernode")[0][0] > restarted_at
        ),
        timeout=15,
        what="a heartbeat after the restart",
    )
    assert query(database_url, completed, first_release) == [(1,)]
    for process in services:
        assert process.process.poll() is None, f"{process.name} exited:\n{process.transcript()}"
    errors = [line for line in worker.transcript().splitlines() if re.search(r"ERROR/|Traceback", line)]
    assert not errors, worker.transcript()
