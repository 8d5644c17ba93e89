"""The production front, deploy/nginx.conf, on loopback: in front of a Django server, sending release
files from a local data directory as docker-compose's ``front`` service does, with TLS on a
self-signed certificate and the redirect to it on ports of their own."""

import os
import re
import shutil
import subprocess
from pathlib import Path

from harness.loopback import free_port
from harness.processes import ROOT, RunningProcess

# Debian installs it in /usr/sbin, which a user's PATH may leave out.
NGINX = shutil.which(
    "nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
)
# The lines of deploy/nginx.conf that name docker-compose's hosts, ports and paths: nginx_config
# replaces them.
_COMPOSE_LINES = (
    "server web:8000;",
    "listen 8000;",
    "listen 443 ssl;",
    "listen 80;",
    "ssl_certificate /etc/nginx/tls/fullchain.pem;",
    "ssl_certificate_key /etc/nginx/tls/privkey.pem;",
    "alias /data/;",
    "access_log /var/log/nginx/access.log",
)
_TRACKERS = re.compile(r"upstream fanout_trackers \{\n(?:    server \S+;\n)+")


def self_signed_certificate(workdir: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, and its key, made by openssl in ``workdir``."""
    certificate, key = workdir / "fullchain.pem", workdir / "privkey.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", str(key), "-out", str(certificate), "-days", "1", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return certificate, key


def nginx_config(
    *,
    listen_port: int,
    tls_port: int,
    redirect_port: int,
    upstream: str,
    trackers: list[str],
    data_dir: Path,
    workdir: Path,
) -> str:
    """deploy/nginx.conf as a whole nginx configuration, for one process run by whoever runs it."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    certificate, key = self_signed_certificate(workdir)
    replacements = dict(
        zip(
            _COMPOSE_LINES,
            (
                f"server {upstream};",
                f"listen 127.0.0.1:{listen_port};",
                f"listen 127.0.0.1:{tls_port} ssl;",
                f"listen 127.0.0.1:{redirect_port};",
                f"ssl_certificate {certificate};",
                f"ssl_certificate_key {key};",
                f"alias {data_dir.resolve()}/;",
                f"access_log {workdir / 'access.log'}",
            ),
            strict=True,
        )
    )
    for compose_line, local_line in replacements.items():
        if compose_line not in site:
            raise ValueError(f"deploy/nginx.conf no longer has {compose_line!r}")
        site = site.replace(compose_line, local_line)
    if not _TRACKERS.search(site):
        raise ValueError("deploy/nginx.conf no longer has its upstream fanout_trackers")
    site = _TRACKERS.sub(
        "upstream fanout_trackers {\n" + "".join(f"    server {tracker};\n" for tracker in trackers), site
    )
    temp = {name: workdir / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    return "\n".join(
        [
            "daemon off;",
            # One process, no privileges dropped: it reads the files of whoever runs it.
            "master_process off;",
            f"pid {workdir / 'nginx.pid'};",
            f"error_log {workdir / 'error.log'} warn;",
            "events {}",
            "http {",
            "include /etc/nginx/mime.types;",
            f"client_body_temp_path {temp['body']};",
            f"proxy_temp_path {temp['proxy']};",
            f"fastcgi_temp_path {temp['fastcgi']};",
            f"uwsgi_temp_path {temp['uwsgi']};",
            f"scgi_temp_path {temp['scgi']};",
            site,
            "}",
        ]
    )


def start_nginx(
    *,
    listen_port: int,
    upstream: str,
    data_dir: Path,
    workdir: Path,
    trackers: list[str] | None = None,
    tls_port: int | None = None,
    redirect_port: int | None = None,
) -> RunningProcess:
    """nginx with deploy/nginx.conf, its plain listener on ``listen_port``, proxying to ``upstream``
    (host:port) and the tracker routes to ``trackers`` (default: ``upstream``, as Django answers
    them too); TLS and the redirect on the ports given, or on free ones."""
    if NGINX is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "nginx.conf"
    config.write_text(
        nginx_config(
            listen_port=listen_port,
            tls_port=tls_port or free_port(),
            redirect_port=redirect_port or free_port(),
            upstream=upstream,
            trackers=trackers or [upstream],
            data_dir=data_dir,
            workdir=workdir,
        )
    )
    process = RunningProcess(
        "nginx", [NGINX, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(config)], {}
    )
    process.wait_for_port(listen_port)
    return process
