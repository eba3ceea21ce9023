"""nginx in front of the admin instances: a supervised local process, or the official
image in containers with the same configuration rendered for it.

Health-aware upstreams: an instance that refuses or times out is taken out for a moment
and the request goes to the other (``proxy_next_upstream``); nginx never re-sends a POST
that reached an instance, so only requests that are safe to repeat are retried.
"""

from __future__ import annotations

from pathlib import Path

from medsys.core.accounts import Part, account_name
from medsys.core.settings import Network, Settings
from medsys.nodes.base import owned_directory

ADMIN_INSTANCES = ("app2-1", "app2-2")
# In the official image: where the rendered file is mounted, and what its workers run as.
CONTAINER_CONFIG = "/etc/nginx/medsys.conf"
CONTAINER_ROOT = Path("/var/cache/nginx")
CONTAINER_USER = "nginx"


def prefix(settings: Settings) -> Path:
    return settings.run_dir / "nginx"


def access_log_dir(settings: Settings) -> Path:
    """Its own folder under the logs: nginx runs unprivileged and cannot open the pipe
    supervisord gives it as standard output."""
    return settings.log_dir / "nginx"


def config_path(settings: Settings) -> Path:
    return settings.conf_dir / "nginx.conf"


def command(settings: Settings) -> tuple[str, ...]:
    if settings.network is Network.COMPOSE:
        return ("nginx", "-c", CONTAINER_CONFIG)
    # -e: its own error log on stderr from the first instant (not the packaged path, which
    # an unprivileged nginx cannot open).
    return (
        "/usr/sbin/nginx",
        "-e",
        "stderr",
        "-p",
        str(prefix(settings)),
        "-c",
        str(config_path(settings)),
    )


def render(settings: Settings, *, as_user: str | None) -> str:
    in_container = settings.network is Network.COMPOSE
    root = CONTAINER_ROOT if in_container else prefix(settings)
    access_log = "/dev/stdout" if in_container else f"{access_log_dir(settings)}/access.log"
    written_by = "medsys compose" if in_container else "medsys up"
    servers = "\n".join(
        f"        server {settings.host(name)}:{settings.port(name)} max_fails=1 fail_timeout=2s;"
        for name in ADMIN_INSTANCES
    )
    user_line = f"user {as_user};\n" if as_user else ""
    return f"""# written by {written_by}; edits are overwritten
{user_line}daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log {access_log};
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    client_max_body_size 1m;
    map $http_x_request_id $medsys_request_id {{
        "" $request_id;
        default $http_x_request_id;
    }}
    upstream admin {{
{servers}
        keepalive 16;
    }}
    server {{
        listen {settings.bind_address}:{settings.port("nginx")};
        location / {{
            proxy_pass http://admin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Request-ID $medsys_request_id;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
            proxy_next_upstream error timeout http_502 http_503 http_504;
            proxy_next_upstream_tries 2;
            proxy_next_upstream_timeout 10s;
        }}
    }}
}}
"""


def write_config(settings: Settings) -> Path:
    """Locally nginx runs as its own unprivileged account from the start (its port is
    above 1024), so there is no ``user`` line: it owns its folder and nothing else."""
    account = account_name(settings, Part.BALANCER)
    root = owned_directory(settings, prefix(settings), 0o755, account=account)
    for folder in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        owned_directory(settings, root / folder, account=account)
    owned_directory(settings, access_log_dir(settings), 0o750, account=account)
    path = config_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(settings, as_user=None))
    return path
