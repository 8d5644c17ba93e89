"""docker-compose.yml cannot run here (no Docker engine): keep it honest against the code."""

import importlib
import shlex
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands
from gunicorn.config import Config

from config.environment import READ_NAMES
from config.gunicorn_logging import RedactingLogger
from scripts import run_all

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
FANOUT_SERVICES = {
    name: service for name, service in COMPOSE["services"].items() if service.get("image") == "fanout:latest"
}


def test_it_runs_every_fanout_component():
    assert set(FANOUT_SERVICES) >= {"web", "worker", "beat", "tracker", "seeder"}
    assert {"postgres", "redis"} <= set(COMPOSE["services"])
    assert (ROOT / "Dockerfile").exists()


@pytest.mark.parametrize("name", sorted(FANOUT_SERVICES))
def test_it_starts_each_service_with_a_command_that_exists(name):
    argv = shlex.split(FANOUT_SERVICES[name]["command"])
    program = argv[0]
    if program == "python":
        assert argv[1] == "manage.py"
        assert argv[2] in get_commands(), f"{name}: no management command {argv[2]}"
    elif program == "celery":
        assert argv[1:3] == ["-A", "config"]
        assert argv[3] in ("worker", "beat")
        assert importlib.import_module("config").celery_app.main == "fanout"
    elif program == "gunicorn":
        module = importlib.import_module(argv[1])
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


def test_it_gives_the_tracker_and_seeder_the_ports_it_publishes():
    tracker = FANOUT_SERVICES["tracker"]
    port = shlex.split(tracker["command"])[shlex.split(tracker["command"]).index("--http-port") + 1]
    assert f"{port}:{port}/tcp" in tracker["ports"] and f"{port}:{port}/udp" in tracker["ports"]
    assert FANOUT_SERVICES["tracker"]["environment"]["FANOUT_ANNOUNCE_URL"].endswith(f":{port}/announce")
    seeder_port = FANOUT_SERVICES["seeder"]["environment"]["SEEDER_PORT"]
    assert f"{seeder_port}:{seeder_port}/tcp" in FANOUT_SERVICES["seeder"]["ports"]


def test_it_serves_release_files_through_the_web_server_with_range_support():
    files = COMPOSE["services"]["files"]
    web_env = FANOUT_SERVICES["web"]["environment"]
    config_mount, data_mount = files["volumes"]
    config_source, config_target, _ = config_mount.split(":")
    config = (ROOT / config_source).read_text()
    assert config_target.startswith("/etc/nginx/conf.d/")
    # The web server is the public front and hands every request to Django first.
    assert "8000:8000" in files["ports"] and "ports" not in FANOUT_SERVICES["web"]
    assert "server web:8000;" in config
    # Django names files under FANOUT_X_ACCEL_REDIRECT; nginx maps that prefix to the shared data directory.
    prefix = web_env["FANOUT_X_ACCEL_REDIRECT"]
    volume, mounted_at, mode = data_mount.split(":")
    assert (volume, mode) == (FANOUT_SERVICES["web"]["volumes"][0].split(":")[0], "ro")
    assert mounted_at == web_env["FANOUT_DATA_DIR"]
    assert f"location {prefix} {{\n        internal;\n" in config
    assert f"alias {mounted_at.rstrip('/')}/;" in config


def test_the_web_server_and_its_front_keep_passkeys_out_of_their_logs():
    # Their logs hold request paths: /announce/<passkey>, /releases/<id>/webseed/<passkey>/...
    for argv in (shlex.split(FANOUT_SERVICES["web"]["command"]), run_all.commands()["web"]):
        gunicorn = Config()
        gunicorn.set("logger_class", argv[argv.index("--logger-class") + 1])
        assert gunicorn.logger_class is RedactingLogger
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "access_log /var/log/nginx/access.log fanout_redacted;" in config
