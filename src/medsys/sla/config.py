"""Prometheus' configuration, its alert rules and the blackbox exporter's modules, written
by the launcher into the state folder before they start (and rendered the same way for
docker-compose).

Every journey is a probe whose every sample is one attempt: the blackbox exporter walks
the HTTP ones (a page, a service's health through its database), the prober the ones that
need medsys' own credentials (a patient's login and history, a write on each pair). So the
availability of a journey is the mean of its ``probe_success`` samples.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from medsys.core.settings import Settings
from medsys.core.topology import PAIRS

SCRAPE_EVERY = "5s"
PROBE_TIMEOUT = "4s"  # longer than the 3 s answer SLA: a slow answer is measured, not lost
DEFAULT_RETENTION = "31d"  # a monthly SLA needs a month of samples
SLA_AVAILABILITY = 0.96  # the seed's monthly availability
SLA_ANSWER_SECONDS = 3.0  # the seed's App3 answer time
_RETENTION = re.compile(r"^[1-9][0-9]*(ms|s|m|h|d|w|y)$")


@dataclass(frozen=True)
class Journey:
    name: str  # the ``journey`` label
    service: str  # the ``service`` label: whose availability it counts towards
    description: str  # Spanish: the report shows it to people
    via: str  # "blackbox" (a URL) or "prober" (a journey name)
    target: str
    module: str = "http_2xx"
    # One of several instances doing the same work: the service is up while any is.
    redundant: bool = False


def journeys(settings: Settings) -> tuple[Journey, ...]:
    def url(service: str, path: str) -> str:
        return f"http://{settings.host(service)}:{settings.port(service)}{path}"

    found = [
        Journey(
            "portal-login-page",
            "portal",
            "Página de ingreso del portal",
            "blackbox",
            url("app3", "/login"),
            "http_login_page",
        ),
        Journey(
            "patient-history",
            "portal",
            "Paciente ingresa y abre su historial (portal, middleware, clínica, admin.)",
            "prober",
            "patient-history",
        ),
        Journey(
            "clinical-api",
            "clinical",
            "API clínica (app1)",
            "blackbox",
            url("app1", "/health"),
            redundant=True,
        ),
        Journey(
            "clinical-api-replica",
            "clinical",
            "API clínica (app1-replica)",
            "blackbox",
            url("app1-replica", "/health"),
            redundant=True,
        ),
        Journey(
            "admin-api",
            "admin",
            "API administrativa (por nginx)",
            "blackbox",
            url("nginx", "/health"),
        ),
        Journey(
            "middleware-api", "middleware", "Middleware", "blackbox", url("middleware", "/health")
        ),
    ]
    for pair in PAIRS:
        found.append(
            Journey(
                f"write-{pair.name}",
                f"database-{pair.name}",
                f"Escritura en la pareja {pair.name}",
                "prober",
                f"write-{pair.name}",
            )
        )
    return tuple(found)


def retention(value: str | None) -> str:
    """MEDSYS_PROMETHEUS_RETENTION: how long samples are kept (Prometheus' notation)."""
    if not value:
        return DEFAULT_RETENTION
    if not _RETENTION.match(value):
        raise ValueError(
            f"MEDSYS_PROMETHEUS_RETENTION {value!r}: give a duration such as 31d or 12h"
        )
    return value


def _address(settings: Settings, service: str) -> str:
    return f"{settings.host(service)}:{settings.port(service)}"


def prometheus_config(settings: Settings, *, rules_file: str, token_file: str | None) -> str:
    """``token_file``: the scrape token (MEDSYS_METRICS_TOKEN) where services are not on
    this machine's loopback (docker-compose); None locally."""

    def job(name: str, services: list[str], **extra: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "job_name": name,
            "static_configs": [{"targets": [_address(settings, s) for s in services]}],
        }
        if token_file:
            entry["authorization"] = {"type": "Bearer", "credentials_file": token_file}
        entry.update(extra)
        return entry

    def probes(via: str, exporter: str, parameter: str) -> dict[str, Any]:
        chosen = [j for j in journeys(settings) if j.via == via]
        auth = {"type": "Bearer", "credentials_file": token_file} if token_file else None
        return {
            "job_name": f"journeys-{via}",
            **({"authorization": auth} if auth else {}),
            "metrics_path": "/probe",
            "scrape_timeout": PROBE_TIMEOUT,
            "static_configs": [
                {
                    "targets": [j.target],
                    "labels": {"journey": j.name, "service": j.service, "module": j.module},
                }
                for j in chosen
            ],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": f"__param_{parameter}"},
                {"source_labels": ["__address__"], "target_label": "instance"},
                {"source_labels": ["module"], "target_label": "__param_module"},
                {"target_label": "__address__", "replacement": _address(settings, exporter)},
            ],
        }

    config = {
        "global": {"scrape_interval": SCRAPE_EVERY, "evaluation_interval": SCRAPE_EVERY},
        "rule_files": [rules_file],
        "scrape_configs": [
            job("clinical", ["app1", "app1-replica"]),
            job("admin", ["app2-1", "app2-2"]),
            job("portal", ["app3"]),
            job("middleware", ["middleware"]),
            job("monitors", [pair.monitor for pair in PAIRS]),
            job("prober", ["prober"]),
            job("backups", ["backups"]),
            job("prometheus", ["prometheus"]),
            job("blackbox", ["blackbox"]),
            probes("blackbox", "blackbox", "target"),
            probes("prober", "prober", "journey"),
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def blackbox_config() -> str:
    http = {"valid_status_codes": [200], "preferred_ip_protocol": "ip4"}
    modules = {
        "http_2xx": {"prober": "http", "timeout": PROBE_TIMEOUT, "http": http},
        "http_login_page": {
            "prober": "http",
            "timeout": PROBE_TIMEOUT,
            "http": {**http, "fail_if_body_not_matches_regexp": ["Ingresar"]},
        },
    }
    return yaml.safe_dump({"modules": modules}, sort_keys=False)


def service_up_expression(settings: Settings, service: str) -> str:
    """1 while the service works, as its journeys say: every journey of it, except that
    redundant instances count as one that works while any of them does."""
    chosen = [j for j in journeys(settings) if j.service == service]
    parts = []
    required = [j.name for j in chosen if not j.redundant]
    redundant = [j.name for j in chosen if j.redundant]
    if required:
        parts.append(f'min(probe_success{{journey=~"{"|".join(required)}"}})')
    if redundant:
        parts.append(f'max(probe_success{{journey=~"{"|".join(redundant)}"}})')
    return " * ".join(parts)


def services(settings: Settings) -> tuple[str, ...]:
    return tuple(dict.fromkeys(j.service for j in journeys(settings)))


def alert_rules(settings: Settings) -> str:
    """A service's availability recorded at every evaluation (``medsys:service_up``, what
    ``medsys sla`` averages), and what wakes someone: each alert says in Spanish what is
    wrong and what it means."""
    budget = 1 - SLA_AVAILABILITY
    recorded = [
        {
            "record": "medsys:service_up",
            "expr": service_up_expression(settings, service),
            "labels": {"service": service},
        }
        for service in services(settings)
    ]

    def rule(name: str, expr: str, after: str, severity: str, summary: str) -> dict[str, Any]:
        return {
            "alert": name,
            "expr": expr,
            "for": after,
            "labels": {"severity": severity},
            "annotations": {"summary": summary},
        }

    rules = [
        rule(
            "PairWithoutReplica",
            'max by (pair) (medsys_monitor_health{health=~"degraded|failed"}) == 1',
            "1m",
            "warning",
            "La pareja {{ $labels.pair }} escribe sin réplica: un fallo más perdería datos.",
        ),
        rule(
            "PromotionRefused",
            'increase(medsys_monitor_events_total{event="promotion-refused"}[10m]) > 0',
            "0s",
            "critical",
            "El monitor de {{ $labels.pair }} no pudo promover la réplica: la pareja no "
            "acepta escrituras.",
        ),
        rule(
            "MonitorSilent",
            "time() - medsys_monitor_last_cycle_timestamp_seconds > 15",
            "0s",
            "critical",
            "El monitor de {{ $labels.pair }} no informa hace más de 15 s.",
        ),
        rule(
            "BreakerOpen",
            # The middleware's own ``instance`` label is kept as ``exported_instance``.
            "max by (exported_instance) (medsys_middleware_breaker_state) == 2",
            "30s",
            "warning",
            "El middleware dejó de llamar a {{ $labels.exported_instance }} (circuito abierto).",
        ),
        rule(
            "ErrorBudgetBurn",
            # Google SRE's fast burn: at this pace a month's budget lasts two days.
            f"(1 - avg by (journey) (avg_over_time(probe_success[1h]))) > {14.4 * budget:.4f}",
            "2m",
            "critical",
            "El recorrido {{ $labels.journey }} consume el presupuesto de error del mes "
            "14 veces más rápido de lo permitido.",
        ),
        rule(
            "BackupOverdue",
            "time() - max by (pair) (medsys_backup_last_success_timestamp_seconds)"
            " > on (pair) medsys_backup_overdue_after_seconds",
            "0s",
            "critical",
            "La última copia de seguridad de {{ $labels.pair }} es más antigua de lo que su "
            "calendario permite.",
        ),
        rule(
            "BackupFailing",
            "medsys_backup_last_attempt_failed == 1",
            "10m",
            "warning",
            "Las copias de seguridad de {{ $labels.pair }} fallan hace 10 minutos.",
        ),
        rule(
            "JourneySlow",
            f"avg by (journey) (avg_over_time(probe_duration_seconds[10m])) > {SLA_ANSWER_SECONDS}",
            "5m",
            "warning",
            "El recorrido {{ $labels.journey }} tarda más de 3 s en promedio.",
        ),
    ]
    groups = [
        {"name": "medsys-availability", "rules": recorded},
        {"name": "medsys-alerts", "rules": rules},
    ]
    return yaml.safe_dump({"groups": groups}, sort_keys=False)


def grafana_datasource(settings: Settings) -> str:
    """Grafana's provisioned Prometheus (docker-compose)."""
    source = {
        "name": "Prometheus",
        "uid": "medsys-prometheus",
        "type": "prometheus",
        "access": "proxy",
        "url": settings.url("prometheus"),
        "isDefault": True,
        "editable": False,
    }
    return yaml.safe_dump({"apiVersion": 1, "datasources": [source]}, sort_keys=False)


def grafana_dashboards_provider(folder: str) -> str:
    provider = {
        "name": "medsys",
        "type": "file",
        "disableDeletion": True,
        "allowUiUpdates": False,
        "options": {"path": folder},
    }
    return yaml.safe_dump({"apiVersion": 1, "providers": [provider]}, sort_keys=False)


def grafana_dashboard() -> str:
    """The dashboard of the SLA: what ``medsys sla --html`` draws, live."""
    source = {"type": "prometheus", "uid": "medsys-prometheus"}

    def panel(
        number: int, title: str, query: str, legend: str, unit: str, y: int, **extra: Any
    ) -> dict[str, Any]:
        return {
            "id": number,
            "type": "timeseries",
            "title": title,
            "datasource": source,
            "gridPos": {"h": 8, "w": 12, "x": 0 if number % 2 else 12, "y": y},
            "fieldConfig": {"defaults": {"unit": unit, **extra}, "overrides": []},
            "targets": [
                {"refId": "A", "datasource": source, "expr": query, "legendFormat": legend}
            ],
        }

    panels = [
        panel(
            1,
            "Disponibilidad por servicio (5 min)",
            "avg_over_time(medsys:service_up[5m])",
            "{{service}}",
            "percentunit",
            0,
            min=0,
            max=1,
        ),
        panel(
            2,
            "Tiempo de respuesta por recorrido",
            "probe_duration_seconds",
            "{{journey}}",
            "s",
            0,
        ),
        panel(
            3,
            "Retraso de réplica (MariaDB/MySQL)",
            "medsys_monitor_replica_lag_seconds",
            "{{pair}}",
            "s",
            8,
        ),
        panel(
            4,
            "Retraso de réplica (PostgreSQL)",
            "medsys_monitor_replica_lag_bytes",
            "{{pair}}",
            "bytes",
            8,
        ),
        panel(
            5,
            "Conmutaciones por falla (1 h)",
            'increase(medsys_monitor_events_total{event="promoted"}[1h])',
            "{{pair}}",
            "short",
            16,
        ),
        panel(
            6,
            "Presupuesto de error usado, 30 días",
            f"(1 - avg_over_time(medsys:service_up[30d])) / {1 - SLA_AVAILABILITY}",
            "{{service}}",
            "percentunit",
            16,
        ),
    ]
    dashboard = {
        "uid": "medsys-sla",
        "title": "medsys: nivel de servicio",
        "timezone": "America/Santiago",
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "schemaVersion": 39,
        "panels": panels,
    }
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"
