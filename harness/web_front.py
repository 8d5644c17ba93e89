"""The production front, deploy/nginx.conf, on loopback: in front of a Django server, sending release
files from a local data directory as docker-compose's ``files`` service does."""

import os
import shutil
from pathlib import Path

from harness.processes import ROOT, RunningProcess

# Debian installs it in /usr/sbin, which a user's PATH may leave out.
NGINX = shutil.which(
    "nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
)
# The lines of deploy/nginx.conf that name docker-compose's hosts and paths: nginx_config replaces them.
_COMPOSE_LINES = ("server web:8000;", "listen 8000;", "alias /data/;", "access_log /var/log/nginx/access.log")


def nginx_config(*, listen_port: int, upstream: str, data_dir: Path, workdir: Path) -> str:
    """deploy/nginx.conf as a whole nginx configuration, for one process run by whoever runs it."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    replacements = dict(
        zip(
            _COMPOSE_LINES,
            (
                f"server {upstream};",
                f"listen 127.0.0.1:{listen_port};",
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


def start_nginx(*, listen_port: int, upstream: str, data_dir: Path, workdir: Path) -> RunningProcess:
    """nginx with deploy/nginx.conf on ``listen_port``, proxying to ``upstream`` (host:port)."""
    if NGINX is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "nginx.conf"
    config.write_text(
        nginx_config(listen_port=listen_port, upstream=upstream, data_dir=data_dir, workdir=workdir)
    )
    process = RunningProcess(
        "nginx", [NGINX, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(config)], {}
    )
    process.wait_for_port(listen_port)
    return process
