"""The service table: every process the system runs, in one place.

The launcher writes supervisord's configuration from it; ``medsys compose`` renders the
docker-compose file from it (``medsys.launcher.compose``), so the two ways of running cannot
drift apart.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from enum import StrEnum

from medsys.core.accounts import Part
from medsys.core.settings import Settings
from medsys.core.topology import PAIRS, pair_named
from medsys.launcher import measurement, nginx
from medsys.launcher.nginx import ADMIN_INSTANCES
from medsys.nodes import adapter_class


class Kind(StrEnum):
    DATABASE = "database"
    MONITOR = "monitor"
    APP = "app"
    OBSERVER = "observer"  # measures the others (medsys.sla); started last
    BACKUP = "backup"  # the backup scheduler (medsys.backups)


@dataclass(frozen=True)
class Service:
    name: str
    kind: Kind
    command: tuple[str, ...]
    port: int | None = None
    pair: str | None = None
    stop_signal: str = "TERM"
    # Databases are never restarted behind the monitor's back: a restart must go through
    # the node entry, which asks the pair state for the role (see medsys.nodes.entry).
    autorestart: bool = False
    description: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    health_path: str | None = None  # HTTP readiness (apps)
    # The token issuer whose signing key this process holds (core.keys), if any.
    signs_as: str | None = None
    # The account it runs as (core.accounts); None: started as root, drops root itself
    # (a database node's entry must first prepare the node's files).
    account: Part | None = None
    # Services that must be healthy before this one starts, and ones that need only have
    # started: the order `medsys up` keeps, and compose's depends_on.
    needs_healthy: tuple[str, ...] = ()
    needs_started: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        if self.port is None:
            return "-"
        if self.kind is Kind.DATABASE:
            return f"127.0.0.1:{self.port}"
        return f"http://127.0.0.1:{self.port}"


# Read by medsys.failover.monitor (serve); passed explicitly so that `up` with a new value
# rewrites the supervisor config and restarts the monitors.
MONITOR_TUNING = (
    "MEDSYS_PROBE_INTERVAL",
    "MEDSYS_PROBE_TIMEOUT",
    "MEDSYS_FAILURES_TO_DECLARE",
    "MEDSYS_ANTI_FLAP_WINDOW",
)
# Read by the MariaDB/MySQL nodes when they write their server options.
NODE_TUNING = ("MEDSYS_BINLOG_RETENTION_HOURS", "MEDSYS_BACKUP_KEEP_FULL")
# Read by the backup scheduler (medsys.backups.schedule).
BACKUP_TUNING = (
    "MEDSYS_BACKUP_FULL_EVERY",
    "MEDSYS_BACKUP_DIFF_EVERY",
    "MEDSYS_BACKUP_KEEP_FULL",
    "MEDSYS_BINLOG_ARCHIVE_SECONDS",
    "MEDSYS_BINLOG_RETENTION_HOURS",
)


def _gunicorn(python: str, bind: str, application: str) -> tuple[str, ...]:
    return (
        python,
        "-m",
        "gunicorn",
        "--config",
        "python:medsys.launcher.gunicorn_config",
        # The app is loaded once and forked: a worker costs no import of its own, and the
        # workers share the ICD-10 catalogue's pages.
        "--preload",
        # A listening socket per worker (SO_REUSEPORT): on one shared socket the worker
        # the kernel wakes first took most connections that arrive together (37 of 50 a
        # load's keep-alive connections, measured on the portal), and kept them; one
        # worker then queued while the other idled. The kernel now spreads connections
        # over the workers' sockets.
        "--reuse-port",
        "--workers",
        "2",
        "--threads",
        "4",
        "--bind",
        bind,
        "--graceful-timeout",
        "5",
        "--timeout",
        "30",
        "--error-logfile",
        "-",
        application,
    )


def _uvicorn(python: str, settings: Settings, instance: str, factory: str) -> tuple[str, ...]:
    return (
        python,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        settings.bind_address,
        "--port",
        str(settings.port(instance)),
        "--log-level",
        "info",
        "--no-access-log",
    )


def service_table(settings: Settings, *, python: str | None = None) -> tuple[Service, ...]:
    """Every service; ``python`` is the interpreter as the services will see it (ours
    locally, the image's in containers)."""
    python = python or sys.executable
    services: list[Service] = []

    def bind(instance: str) -> str:
        return f"{settings.bind_address}:{settings.port(instance)}"

    for pair in PAIRS:
        engine = adapter_class(pair)
        for node in pair.nodes:
            services.append(
                Service(
                    name=node,
                    kind=Kind.DATABASE,
                    command=(python, "-m", "medsys.nodes.entry", node),
                    port=settings.port(node),
                    pair=pair.name,
                    stop_signal=engine.STOP_SIGNAL.name.removeprefix("SIG"),
                    description=f"{pair.name} database ({engine.ENGINE_LABEL})",
                    environment={k: os.environ[k] for k in NODE_TUNING if k in os.environ},
                )
            )
    for instance in ("app1", "app1-replica"):
        services.append(
            Service(
                name=instance,
                kind=Kind.APP,
                command=_gunicorn(python, bind(instance), "medsys.clinical.wsgi:application()"),
                port=settings.port(instance),
                autorestart=True,
                description="clinical service (App1), for doctors and nurses",
                environment={"MEDSYS_INSTANCE": instance},
                signs_as="clinical",
                account=Part.CLINICAL,
                health_path="/health",
                needs_healthy=pair_named("clinical").nodes,
            )
        )
    for instance in ADMIN_INSTANCES:
        services.append(
            Service(
                name=instance,
                kind=Kind.APP,
                command=_uvicorn(python, settings, instance, "medsys.admin.app:create_app"),
                port=settings.port(instance),
                autorestart=True,
                description="admin service (App2), for clerks and accountants",
                environment={"MEDSYS_INSTANCE": instance},
                signs_as="admin",
                account=Part.ADMIN,
                health_path="/health",
                needs_healthy=pair_named("admin").nodes,
            )
        )
    services.append(
        Service(
            name="nginx",
            kind=Kind.APP,
            command=nginx.command(settings),
            port=settings.port("nginx"),
            stop_signal="QUIT",  # graceful: finish the requests in flight
            autorestart=True,
            description="load balancer in front of the admin instances",
            account=Part.BALANCER,
            health_path="/health",
            needs_healthy=ADMIN_INSTANCES,
        )
    )
    services.append(
        Service(
            name="middleware",
            kind=Kind.APP,
            command=_uvicorn(python, settings, "middleware", "medsys.middleware.app:create_app"),
            port=settings.port("middleware"),
            autorestart=True,
            description="integration gateway: breakers, retries, failover (/docs, /health)",
            health_path="/health",
            signs_as="middleware",
            account=Part.MIDDLEWARE,
            # Its breakers cope with an upstream that is down; it need not wait for them.
            needs_started=("app1", "app1-replica", "nginx"),
        )
    )
    services.append(
        Service(
            name="app3",
            kind=Kind.APP,
            command=_gunicorn(python, bind("app3"), "medsys.portal.wsgi:application()"),
            port=settings.port("app3"),
            autorestart=True,
            description="patient portal (App3)",
            health_path="/health",
            signs_as="portal",
            account=Part.PORTAL,
            needs_healthy=pair_named("portal").nodes,
            needs_started=("middleware",),
        )
    )
    for pair in PAIRS:
        services.append(
            Service(
                name=pair.monitor,
                kind=Kind.MONITOR,
                command=(python, "-m", "medsys.launcher.monitor_process", pair.name),
                port=settings.port(pair.monitor),  # /metrics (failover.metrics)
                pair=pair.name,
                autorestart=True,  # resumes from persisted state; never promotes twice
                account=Part.DATA,
                description=f"failover monitor of the {pair.name} pair",
                environment={k: os.environ[k] for k in MONITOR_TUNING if k in os.environ},
                # A monitor must run while a node is down: that is when it is needed.
                needs_started=pair.nodes,
            )
        )
    services.append(
        Service(
            name="backups",
            kind=Kind.BACKUP,
            command=(python, "-m", "medsys.backups.scheduler"),
            port=settings.port("backups"),
            autorestart=True,
            account=Part.DATA,  # reads the servers' data folders
            description="backup scheduler: pgBackRest (admin), mariadb-backup and binary logs "
            "(clinical, portal)",
            environment={k: os.environ[k] for k in BACKUP_TUNING if k in os.environ},
            health_path="/health",
            needs_started=pair_named("admin").nodes,
        )
    )
    if settings.measurement:
        services += _observers(settings, python)
    return tuple(services)


# Go collects garbage when the heap doubles by default; at half that, Prometheus and the
# blackbox exporter hold about a fifth less for a little more CPU (medsys bench startup).
LEAN_GO = {"GOGC": "50"}


def _observers(settings: Settings, python: str) -> list[Service]:
    watched = ("app1", "app1-replica", "nginx", "middleware", "app3")
    return [
        Service(
            name="blackbox",
            kind=Kind.OBSERVER,
            command=measurement.blackbox_command(settings),
            port=settings.port("blackbox"),
            autorestart=True,
            description="Prometheus blackbox exporter: the HTTP journeys",
            account=Part.OBSERVER,
            health_path="/-/healthy",
            environment=dict(LEAN_GO),
        ),
        Service(
            name="prober",
            kind=Kind.OBSERVER,
            command=(python, "-m", "medsys.sla.prober"),
            port=settings.port("prober"),
            autorestart=True,
            description="journey prober: a patient's history, a write on each pair",
            account=Part.OBSERVER,
            health_path="/health",
            # Few threads, little memory each: glibc's per-thread arenas are waste here.
            environment={"MALLOC_ARENA_MAX": "2"},
            needs_started=watched,
        ),
        Service(
            name="prometheus",
            kind=Kind.OBSERVER,
            command=measurement.prometheus_command(settings),
            port=settings.port("prometheus"),
            autorestart=True,
            description="Prometheus: every service's metrics and journeys, alerts (medsys sla)",
            account=Part.OBSERVER,
            health_path="/-/ready",
            environment={
                **LEAN_GO,
                **{k: os.environ[k] for k in ("MEDSYS_PROMETHEUS_RETENTION",) if k in os.environ},
            },
            needs_started=("blackbox", "prober"),
        ),
    ]


def service_named(settings: Settings, name: str) -> Service:
    for service in service_table(settings):
        if service.name == name:
            return service
    names = ", ".join(service.name for service in service_table(settings))
    raise KeyError(f"unknown service {name!r}; services are: {names}")
