"""nginx in front of the admin instances, as a supervised local process.

Health-aware upstreams: an instance that refuses or times out is taken out for a moment
and the request goes to the other (``proxy_next_upstream``); nginx never re-sends a POST
that reached an instance, so only requests that are safe to repeat are retried.
"""

from __future__ import annotations

import os
from pathlib import Path

from medsys.core.settings import Settings
from medsys.nodes.base import owned_directory

ADMIN_INSTANCES = ("app2-1", "app2-2")


def prefix(settings: Settings) -> Path:
    return settings.run_dir / "nginx"


def config_path(settings: Settings) -> Path:
    return settings.conf_dir / "nginx.conf"


def render(settings: Settings, *, as_user: str | None) -> str:
    root = prefix(settings)
    servers = "\n".join(
        f"        server 127.0.0.1:{settings.port(name)} max_fails=1 fail_timeout=2s;"
        for name in ADMIN_INSTANCES
    )
    user_line = f"user {as_user};\n" if as_user else ""
    return f"""# written by medsys up; edits are overwritten
{user_line}daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log {settings.log_dir}/nginx-access.log;
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
        listen 127.0.0.1:{settings.port("nginx")};
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
    root = owned_directory(settings, prefix(settings), 0o755)
    for folder in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        owned_directory(settings, root / folder)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    path = config_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(settings, as_user=settings.service_user if os.geteuid() == 0 else None))
    return path
