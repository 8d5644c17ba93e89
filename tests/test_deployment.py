"""docker-compose.yml cannot run here (no Docker engine): keep it honest against the code.

Its commands, health checks, environment, secrets and the front's routes (deploy/nginx.conf) are
checked against the code and against .env.example; the health checks and the front run for real.
"""

import importlib
import ipaddress
import os
import re
import secrets
import shlex
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands
from django.db import connection
from django.urls import resolve
from gunicorn.config import Config

from config.environment import READ_NAMES
from config.gunicorn_logging import RedactingLogger
from deploy import healthcheck as deploy_healthcheck
from distribution.api_tokens import issue_api_token
from distribution.models import ApiToken
from distribution.views.publishing import TUS_CHUNK_BYTES
from harness.loopback import free_port
from harness.polling import wait_until
from harness.processes import CELERY
from harness.web_front import NGINX, start_nginx
from scripts import run_all
from seeder.models import HEARTBEAT_INTERVAL, MISSED_HEARTBEATS_BEFORE_DEAD
from tests.conftest import database_url_for_subprocess, subprocess_env
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
FANOUT_SERVICES = {
    name: service for name, service in COMPOSE["services"].items() if service.get("image") == "fanout:latest"
}
NGINX_CONF = (ROOT / "deploy" / "nginx.conf").read_text()
HEALTHCHECK = [sys.executable, str(ROOT / "deploy" / "healthcheck.py")]

# Compose's interpolation: $$ is a dollar; ${NAME}, ${NAME:-default}, ${NAME:?message when unset}.
_COMPOSE_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}"
)


def env_example() -> dict[str, str]:
    """.env.example's variables, as `docker compose` reads them from .env."""
    variables = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            variables[name.strip()] = value.strip()
    return variables


def compose_variables() -> set[str]:
    return {match["name"] for match in _COMPOSE_VARIABLE.finditer(COMPOSE_TEXT) if match["name"]}


def interpolated_compose(variables: dict[str, str]) -> dict:
    """docker-compose.yml as `docker compose` reads it with this .env."""

    def value(match: re.Match) -> str:
        if match[0] == "$$":
            return "$"
        given = variables.get(match["name"], "")
        if not given and match["op"] == ":?":
            raise KeyError(f"{match['name']} is unset: {match['arg']}")
        return given if given or match["op"] != ":-" else match["arg"]

    return yaml.safe_load(_COMPOSE_VARIABLE.sub(value, COMPOSE_TEXT))


def production_environment(directory: Path) -> dict[str, str]:
    """The web service's environment with .env.example's values, its secrets written in ``directory``
    (as compose mounts them in /run/secrets/), and a data directory there."""
    service = interpolated_compose(env_example())["services"]["web"]
    environment = {name: str(value) for name, value in service["environment"].items()}
    for name in service["secrets"]:
        (directory / name).write_text(secrets.token_urlsafe(50) + "\n")
    for name, value in environment.items():
        if value.startswith("/run/secrets/"):
            environment[name] = str(directory / value.removeprefix("/run/secrets/"))
    environment["FANOUT_DATA_DIR"] = str(directory)
    return environment


def nginx_blocks(text: str) -> list:
    """deploy/nginx.conf as nested (directive, arguments, block or None) tuples."""
    tokens = re.findall(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|#[^\n]*|[{};]|[^\s{};]+", text)

    def parse(position: int) -> tuple[list, int]:
        directives, words = [], []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token.startswith("#"):
                continue
            if token == ";":
                directives.append((words[0], words[1:], None))
                words = []
            elif token == "{":
                block, position = parse(position)
                directives.append((words[0], words[1:], block))
                words = []
            elif token == "}":
                return directives, position
            else:
                words.append(token.strip("\"'"))
        return directives, position

    return parse(0)[0]


def directives(block: list, name: str) -> list:
    return [entry for entry in block if entry[0] == name]


def the_server(port: str) -> list:
    """The server block of deploy/nginx.conf that listens on ``port``."""
    (server,) = [
        block
        for _, _, block in directives(nginx_blocks(NGINX_CONF), "server")
        if [port] in [arguments[:1] for _, arguments, _ in directives(block, "listen")]
    ]
    return server


MAIN_SERVER = the_server("443")


def location(path: str, modifier: str | None = None) -> list:
    wanted = [modifier, path] if modifier else [path]
    (block,) = [b for _, arguments, b in directives(MAIN_SERVER, "location") if arguments == wanted]
    return block


def setting(block: list, name: str) -> list[str]:
    (entry,) = directives(block, name)
    return entry[1]


def nginx_bytes(size: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)


def argv(service: dict) -> list[str]:
    return shlex.split(service["command"])


def option(arguments: list[str], name: str) -> str:
    return arguments[arguments.index(name) + 1]


def health_argv(service: dict) -> list[str]:
    test = service["healthcheck"]["test"]
    return shlex.split(test[1].replace("$$", "$")) if test[0] == "CMD-SHELL" else test[1:]


def test_it_runs_every_fanout_component():
    assert set(FANOUT_SERVICES) >= {"web", "worker", "beat", "tracker-1", "tracker-2", "seeder"}
    assert {"postgres", "redis", "front"} <= set(COMPOSE["services"])
    assert (ROOT / "Dockerfile").exists()


@pytest.mark.parametrize("name", sorted(FANOUT_SERVICES))
def test_it_starts_each_service_with_a_command_that_exists(name):
    arguments = argv(FANOUT_SERVICES[name])
    program = arguments[0]
    if program == "python":
        assert arguments[1] == "manage.py"
        assert arguments[2] in get_commands(), f"{name}: no management command {arguments[2]}"
    elif program == "celery":
        assert arguments[1:3] == ["-A", "config"]
        assert arguments[3] in ("worker", "beat")
        assert importlib.import_module("config").celery_app.main == "fanout"
    elif program == "gunicorn":
        module = importlib.import_module(arguments[1])
        assert callable(module.application)
    else:
        pytest.fail(f"{name}: unexpected program {program}")


@pytest.mark.parametrize("name", sorted(FANOUT_SERVICES))
def test_it_sets_only_variables_the_settings_read(name):
    # Besides the settings' own, those `make run` gives the program too (Celery's REMAP_SIGTERM).
    for_the_program = run_all.CHILD_ENVIRONMENT.get(name, {})
    unknown = set(FANOUT_SERVICES[name]["environment"]) - READ_NAMES - set(for_the_program)
    assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"
    for variable, value in for_the_program.items():
        assert FANOUT_SERVICES[name]["environment"].get(variable) == value, (name, variable)


def test_every_variable_it_takes_from_the_env_file_is_in_env_example_and_nothing_more():
    assert compose_variables() == set(env_example())
    # With .env.example as .env, nothing is missing (a ${NAME:?} would stop `docker compose up`).
    interpolated_compose(env_example())


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_it_commits_no_secret(name):
    service = COMPOSE["services"][name]
    for variable, value in service.get("environment", {}).items():
        if re.search(r"SECRET|PASSWORD|TOKEN", variable) and not variable.endswith("_FILE"):
            pytest.fail(f"{name}: {variable} is written in docker-compose.yml; give {variable}_FILE instead")
        if variable.endswith("_URL") and urlsplit(str(value)).password:
            pytest.fail(f"{name}: {variable} holds a password")
        if variable.endswith("_FILE") and value.startswith("/run/secrets/"):
            assert value.removeprefix("/run/secrets/") in service["secrets"], (name, variable)


def test_its_secrets_are_files_that_git_leaves_out():
    secret_files = [ROOT / secret["file"] for secret in COMPOSE["secrets"].values()]
    assert {path.parent for path in secret_files} == {ROOT / "deploy" / "secrets"}
    ignored = subprocess.run(
        ["git", "check-ignore", *map(str, secret_files)], cwd=ROOT, capture_output=True, text=True
    )
    assert ignored.stdout.split() == list(map(str, secret_files))
    assert "change-me" not in COMPOSE_TEXT and "change-me" not in (ROOT / ".env.example").read_text()
    # Nor does the image, which copies the checkout.
    assert {"deploy/secrets", "deploy/tls", ".env"} <= set((ROOT / ".dockerignore").read_text().split())


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_every_service_that_keeps_running_has_a_health_check_and_waits_for_healthy_ones(name):
    service = COMPOSE["services"][name]
    if service.get("restart") == "no":
        assert "healthcheck" not in service
    else:
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    for dependency, condition in service.get("depends_on", {}).items():
        runs_once = COMPOSE["services"][dependency].get("restart") == "no"
        expected = "service_completed_successfully" if runs_once else "service_healthy"
        assert condition == {"condition": expected}, (name, dependency)


def test_the_health_checks_ask_what_each_service_serves():
    services = COMPOSE["services"]
    web, worker = services["web"], services["worker"]
    # web: the page the health check asks for exists, on the port gunicorn binds.
    check = health_argv(web)
    assert check[:3] == ["python", "deploy/healthcheck.py", "web"]
    assert option(argv(web), "--bind").endswith(f":{option(check, '--port')}")
    assert resolve(deploy_healthcheck.WEB_PATH).url_name == "catalogue"
    # worker: Celery's ping, to this container's worker by the name it starts with.
    check = health_argv(worker)
    assert check[:5] == ["celery", "-A", "config", "inspect", "ping"]
    assert option(check, "--destination") == option(argv(worker), "--hostname").replace("%h", "$HOSTNAME")
    assert health_argv(services["beat"]) == ["python", "deploy/healthcheck.py", "beat"]
    for name in ("tracker-1", "tracker-2"):
        check = health_argv(services[name])
        assert check[:3] == ["python", "deploy/healthcheck.py", "tracker"]
        assert option(check, "--port") == option(argv(services[name]), "--http-port")
    check = health_argv(services["seeder"])
    assert check[:3] == ["python", "deploy/healthcheck.py", "seeder"]
    assert option(check, "--name") == option(argv(services["seeder"]), "--name")
    postgres = services["postgres"]
    assert health_argv(postgres) == [
        "pg_isready",
        "--username",
        postgres["environment"]["POSTGRES_USER"],
        "--dbname",
        postgres["environment"]["POSTGRES_DB"],
    ]
    assert health_argv(services["redis"]) == ["redis-cli", "ping"]
    # front: its plain port 80 answers (with the redirect to HTTPS).
    assert health_argv(services["front"])[-1] == "http://127.0.0.1:80/"
    assert the_server("80")


def test_the_announce_url_in_torrents_is_the_public_one_through_the_front():
    compose = interpolated_compose(env_example())
    host = env_example()["FANOUT_HOST"]
    for name in FANOUT_SERVICES:
        environment = compose["services"][name]["environment"]
        assert environment["FANOUT_PUBLIC_URL"] == f"https://{host}"
        assert environment["FANOUT_ANNOUNCE_URL"] == f"https://{host}/announce"
    # Inside the network the public name is the front too: the seeder announces there as clients do.
    assert compose["services"]["front"]["networks"]["default"]["aliases"] == [host]
    assert "ports" not in compose["services"]["tracker-1"]


def test_the_front_spreads_the_tracker_routes_over_every_tracker():
    (trackers,) = [
        b for _, a, b in directives(nginx_blocks(NGINX_CONF), "upstream") if a == ["fanout_trackers"]
    ]
    tracker_services = [name for name, s in FANOUT_SERVICES.items() if argv(s)[2:3] == ["runtracker"]]
    assert sorted(arguments[0] for _, arguments, _ in directives(trackers, "server")) == sorted(
        f"{name}:{option(argv(FANOUT_SERVICES[name]), '--http-port')}" for name in tracker_services
    )
    for path in ("/announce", "/scrape", "/admitted/"):
        assert setting(location(path), "proxy_pass") == ["http://fanout_trackers"]


def test_the_front_passes_the_client_address_to_proxies_the_settings_trust():
    headers = {arguments[0]: arguments[1] for _, arguments, _ in directives(MAIN_SERVER, "proxy_set_header")}
    assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"
    assert headers["X-Real-IP"] == "$remote_addr"
    # No location that clients reach sets headers of its own, which would drop all of these
    # (nginx's inheritance); a named one (@...) is nginx's own request.
    for _, arguments, block in directives(MAIN_SERVER, "location"):
        assert arguments[0].startswith("@") or not directives(block, "proxy_set_header"), arguments
    compose = interpolated_compose(env_example())
    front = compose["services"]["front"]["networks"]["default"]["ipv4_address"]
    (subnet,) = [network["subnet"] for network in compose["networks"]["default"]["ipam"]["config"]]
    assert ipaddress.ip_address(front) in ipaddress.ip_network(subnet)
    for name in FANOUT_SERVICES:
        trusted = compose["services"][name]["environment"]["FANOUT_TRUSTED_PROXIES"]
        assert [proxy for proxy in trusted.split(",") if proxy] == [front], name


def test_the_front_takes_large_bodies_only_where_files_arrive():
    # Elsewhere, no more than Django reads itself.
    assert (
        nginx_bytes(setting(MAIN_SERVER, "client_max_body_size")[0]) == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    )
    uploads = nginx_bytes(setting(location("/uploads/"), "client_max_body_size")[0])
    client_chunk = importlib.import_module("fanout_client.tus").CHUNK_SIZE
    assert TUS_CHUNK_BYTES == client_chunk < uploads <= 2 * TUS_CHUNK_BYTES
    # The publish page without JavaScript: every file in one request.
    assert nginx_bytes(setting(location("/publish/", "="), "client_max_body_size")[0]) == (
        settings.FANOUT_RELEASE_MAX_BYTES
    )
    limited = {
        tuple(arguments)
        for _, arguments, block in directives(MAIN_SERVER, "location")
        if directives(block, "client_max_body_size")
    }
    assert limited == {("/uploads/",), ("=", "/publish/")}
    assert resolve("/uploads/").url_name == "tus-create"
    assert resolve("/publish/").url_name == "release-create"


def test_the_front_redirects_plain_http_to_https():
    redirect = the_server("80")
    assert setting(directives(redirect, "location")[0][2], "return") == ["301", "https://$host$request_uri"]


def test_it_serves_release_files_through_the_front_with_range_support():
    front = COMPOSE["services"]["front"]
    web_env = FANOUT_SERVICES["web"]["environment"]
    config_mount, data_mount, tls_mount = front["volumes"]
    config_source, config_target, _ = config_mount.split(":")
    assert (ROOT / config_source).read_text() == NGINX_CONF
    assert config_target.startswith("/etc/nginx/conf.d/")
    # The front is the only way in, and hands every request but the trackers' to Django first.
    assert {"80:80", "443:443"} == set(front["ports"]) and "ports" not in FANOUT_SERVICES["web"]
    assert "server web:8000;" in NGINX_CONF
    # Django names files under FANOUT_X_ACCEL_REDIRECT; nginx maps that prefix to the shared data directory.
    prefix = web_env["FANOUT_X_ACCEL_REDIRECT"]
    volume, mounted_at, mode = data_mount.split(":")
    assert (volume, mode) == (FANOUT_SERVICES["web"]["volumes"][0].split(":")[0], "ro")
    assert mounted_at == web_env["FANOUT_DATA_DIR"]
    assert f"location {prefix} {{\n        internal;\n" in NGINX_CONF
    assert f"alias {mounted_at.rstrip('/')}/;" in NGINX_CONF
    # The certificate's directory, where the TLS server reads it.
    tls_source, tls_target, _ = tls_mount.split(":")
    assert tls_source == "./deploy/tls"
    for name in ("ssl_certificate", "ssl_certificate_key"):
        assert setting(MAIN_SERVER, name)[0].startswith(f"{tls_target}/")
    assert subprocess.run(["git", "check-ignore", "deploy/tls/privkey.pem"], cwd=ROOT).returncode == 0


def test_the_web_server_and_its_front_keep_passkeys_out_of_their_logs():
    # Their logs hold request paths: /announce/<passkey>, /releases/<id>/webseed/<passkey>/...
    for arguments in (argv(FANOUT_SERVICES["web"]), run_all.commands()["web"]):
        gunicorn = Config()
        gunicorn.set("logger_class", arguments[arguments.index("--logger-class") + 1])
        assert gunicorn.logger_class is RedactingLogger
    for _, _, server in directives(nginx_blocks(NGINX_CONF), "server"):
        assert setting(server, "access_log") == ["/var/log/nginx/access.log", "fanout_redacted"]


def healthcheck(*arguments: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*HEALTHCHECK, *arguments], cwd=ROOT, env=subprocess_env(**env), capture_output=True, text=True
    )


@pytest.mark.django_db(transaction=True)
def test_the_web_health_check_passes_on_the_catalogue_and_fails_without_it(live_server):
    port = str(urlsplit(live_server.url).port)
    # As in production: the public name, and HTTPS said by the front.
    production = dict(
        FANOUT_PUBLIC_URL="https://localhost", SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto", DEBUG="False"
    )
    assert healthcheck("web", "--port", port, **production).returncode == 0
    refused = healthcheck("web", "--port", str(free_port()), **production)
    assert refused.returncode == 1 and "Connection refused" in refused.stderr


@pytest.mark.django_db(transaction=True)
def test_the_tracker_health_check_scrapes_a_running_tracker(start_process):
    port = free_port()
    tracker = start_process(
        "tracker",
        [sys.executable, "manage.py", "runtracker", "--host", "127.0.0.1", "--http-port", str(port)]
        + ["--udp-port", "0"],
        subprocess_env(DATABASE_URL=database_url_for_subprocess(connection.settings_dict)),
    )
    tracker.wait_for(r"tracker listening on http://")
    assert healthcheck("tracker", "--port", str(port)).returncode == 0
    tracker.stop()
    assert healthcheck("tracker", "--port", str(port)).returncode == 1


@pytest.mark.django_db(transaction=True)
def test_the_seeder_health_check_follows_the_nodes_heartbeat():
    from seeder.models import SeederNode

    database = {"DATABASE_URL": database_url_for_subprocess(connection.settings_dict)}
    missing = healthcheck("seeder", "--name", "seeder-1", **database)
    assert missing.returncode == 1 and "no seeder node seeder-1" in missing.stderr
    node = SeederNode.objects.create(name="seeder-1", listen_port=6881, version="test")
    assert healthcheck("seeder", "--name", "seeder-1", **database).returncode == 0
    node.last_heartbeat_at -= HEARTBEAT_INTERVAL * (MISSED_HEARTBEATS_BEFORE_DEAD + 1)
    node.save()
    assert healthcheck("seeder", "--name", "seeder-1", **database).returncode == 1


def test_the_beat_health_check_follows_its_schedule_file(tmp_path, start_process):
    data = {"FANOUT_DATA_DIR": str(tmp_path), "REDIS_URL": ""}
    assert healthcheck("beat", **data).returncode == 1
    beat = start_process("beat", [*CELERY, "beat", "--loglevel", "INFO"], subprocess_env(**data))
    wait_until(lambda: healthcheck("beat", **data).returncode == 0, timeout=30, what="beat's schedule file")
    beat.stop()
    an_hour_ago = time.time() - 3600
    for path in tmp_path.glob("celerybeat-schedule*"):
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert healthcheck("beat", **data).returncode == 1


@pytest.mark.slow
@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")
@pytest.mark.django_db(transaction=True)
def test_the_real_front_refuses_a_large_body_except_where_files_arrive(live_server, tmp_path):
    tls_port, redirect_port = free_port(), free_port()
    front = start_nginx(
        listen_port=free_port(),
        tls_port=tls_port,
        redirect_port=redirect_port,
        upstream=live_server.url.removeprefix("http://"),
        data_dir=tmp_path,
        workdir=tmp_path / "nginx",
    )
    _, token = issue_api_token(UserFactory(is_staff=True), name="ci", scope=ApiToken.Scope.PUBLISH)
    tls = ssl.create_default_context(cafile=tmp_path / "nginx" / "fullchain.pem")
    body = os.urandom(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)

    def answer(method: str, path: str, **headers: str) -> tuple[int, str]:
        request = urllib.request.Request(
            f"https://localhost:{tls_port}{path}", data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30, context=tls) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    try:
        status, text = answer("POST", "/", Authorization=f"Bearer {token}")
        assert status == 413 and "nginx" in text
        # Through to Django, which reads the chunk and finds no such upload.
        status, text = answer(
            "PATCH",
            f"/uploads/{uuid.uuid4()}",
            Authorization=f"Bearer {token}",
            **{
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert status == 404 and "nginx" not in text
        plain = urllib.request.Request(f"http://127.0.0.1:{redirect_port}/releases/1/")
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(plain, timeout=10)
        assert redirect.value.code == 301
        assert redirect.value.headers["Location"] == "https://127.0.0.1/releases/1/"
    finally:
        front.stop()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
