"""Typed settings from one optional TOML file and ``MEDSYS_*`` environment variables.

Built on demand by ``load_settings`` (never at import time) so tests and the launcher can
run several independent systems side by side, each with its own state folder and ports.

Precedence, lowest first: defaults, the config file, the environment.
Config file: ``$MEDSYS_CONFIG`` or ``./medsys.toml``::

    state_dir = "/var/lib/medsys"
    port_offset = 0
    service_user = "medsys"
    network = "loopback"   # or "compose": each service is a host named after it
    [ports]
    mariadb-master = 13306
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from medsys.core.topology import DEFAULT_PORTS, KUBERNETES_PORTS, KUBERNETES_SERVICES


class SettingsError(ValueError):
    """The configuration cannot be used as written."""


class Network(StrEnum):
    LOOPBACK = "loopback"  # one machine: everything on 127.0.0.1, told apart by port
    COMPOSE = "compose"  # containers: each service is reached at its own name
    # Kubernetes: applications only, each reached at its application's Service
    # (core.topology.KUBERNETES_SERVICES); each database at the one read-write endpoint
    # its operator keeps (database_endpoints), no node of ours.
    KUBERNETES = "kubernetes"


DEFAULT_REPLICA_WAIT = 0.05  # seconds


# How core.passwords hashes (MEDSYS_PASSWORD_HASHING): "standard" (argon2id, RFC 9106) or
# "cheapest-for-tests", which only the test systems use (see core.passwords).
PASSWORD_HASHING_PROFILES = ("standard", "cheapest-for-tests")


def password_hashing(environ: Mapping[str, str] | None = None) -> str:
    """The hashing profile the environment asks for; an unknown name is refused, never
    taken for the standard one."""
    chosen = (os.environ if environ is None else environ).get("MEDSYS_PASSWORD_HASHING")
    chosen = chosen or PASSWORD_HASHING_PROFILES[0]
    if chosen not in PASSWORD_HASHING_PROFILES:
        choices = ", ".join(PASSWORD_HASHING_PROFILES)
        raise SettingsError(f"MEDSYS_PASSWORD_HASHING must be one of {choices}, got {chosen!r}")
    return chosen


def _env_key(service: str) -> str:
    return "MEDSYS_PORT_" + service.upper().replace("-", "_")


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    port_offset: int = 0
    port_overrides: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    service_user: str = "medsys"
    network: Network = Network.LOOPBACK
    # Prometheus, the blackbox exporter and the journey prober (medsys.sla); off for a
    # system that only needs to run, such as most test systems on a two-core machine.
    measurement: bool = True
    backups_at: Path | None = None  # see backup_dir
    # Demo staff, patients and records loaded into empty databases (MEDSYS_DEMO_DATA=off
    # for a real clinic: its people come from its own records).
    demo_data: bool = True
    # pair -> (host, port) of the one endpoint that always leads to its primary
    # (MEDSYS_DATABASE_ENDPOINT_<PAIR>=host:port); the pair's own nodes when absent.
    database_endpoints: Mapping[str, tuple[str, int]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # How long an audited read (a history) may wait for the replica to apply what was
    # committed before it, before it reads on the primary (MEDSYS_REPLICA_WAIT_MS; 0:
    # replicas serve no reads; None: decided per pair by replica_wait). See
    # core.replica_reads.
    replica_wait_ms: int | None = None

    def replica_wait(self, nodes: tuple[str, ...]) -> float:
        """Seconds an audited read on the pair of ``nodes`` may wait for its replica. Unless
        set, replicas serve reads only where the pair's nodes are on different hosts: on
        one machine a replica read spares the primary nothing and costs a few more round
        trips (measured: 12 % fewer portal pages per second on 2 cores)."""
        if self.replica_wait_ms is not None:
            return self.replica_wait_ms / 1000
        return DEFAULT_REPLICA_WAIT if len({self.host(node) for node in nodes}) > 1 else 0.0

    def host(self, service: str) -> str:
        """Where other processes reach ``service``."""
        if service not in DEFAULT_PORTS:
            raise SettingsError(f"unknown service {service!r}")
        if self.network is Network.KUBERNETES:
            return KUBERNETES_SERVICES.get(service, service)
        return "127.0.0.1" if self.network is Network.LOOPBACK else service

    @property
    def bind_address(self) -> str:
        """Where our servers listen: loopback locally; every interface of a container,
        whose only neighbours are the compose network's."""
        return "127.0.0.1" if self.network is Network.LOOPBACK else "0.0.0.0"  # noqa: S104

    def url(self, service: str) -> str:
        host = self.host(service)
        if self.network is Network.KUBERNETES and host in KUBERNETES_PORTS:
            return f"http://{host}:{KUBERNETES_PORTS[host]}"
        return f"http://{host}:{self.port(service)}"

    def port(self, service: str) -> int:
        if service in self.port_overrides:
            return self.port_overrides[service]
        try:
            return DEFAULT_PORTS[service] + self.port_offset
        except KeyError:
            raise SettingsError(f"unknown service {service!r}") from None

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def conf_dir(self) -> Path:
        return self.state_dir / "conf"

    @property
    def cluster_dir(self) -> Path:
        """Persisted pair state: who is primary, the term, pending acknowledgements."""
        return self.state_dir / "cluster"

    @property
    def mail_dir(self) -> Path:
        """Messages the system would mail (no mail server locally); private to the portal."""
        return self.state_dir / "mail"

    @property
    def backup_dir(self) -> Path:
        """The backup repositories (medsys.backups): MEDSYS_BACKUP_DIR puts them on another
        disk, as they should be; by default beside the state, which protects against a
        dropped table but not a lost disk."""
        return self.backups_at or self.state_dir / "backups"

    @property
    def measurement_dir(self) -> Path:
        """Prometheus' configuration and samples, the blackbox exporter's modules: the
        observer account's alone (medsys.sla)."""
        return self.state_dir / "measurement"

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    def to_environ(self) -> dict[str, str]:
        """Environment that makes a child process load exactly these settings."""
        environ = {
            "MEDSYS_STATE_DIR": str(self.state_dir),
            "MEDSYS_PORT_OFFSET": str(self.port_offset),
            "MEDSYS_SERVICE_USER": self.service_user,
            "MEDSYS_NETWORK": self.network.value,
            "MEDSYS_MEASUREMENT": "on" if self.measurement else "off",
        }
        if self.backups_at is not None:
            environ["MEDSYS_BACKUP_DIR"] = str(self.backups_at)
        for service, port in self.port_overrides.items():
            environ[_env_key(service)] = str(port)
        return environ


def _as_int(value: object, what: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise SettingsError(f"{what} must be a whole number, got {value!r}") from None


def _on_or_off(value: object, what: str) -> bool:
    if isinstance(value, bool):
        return value
    spoken = str(value).strip().lower()
    if spoken in ("on", "true", "yes", "1"):
        return True
    if spoken in ("off", "false", "no", "0"):
        return False
    raise SettingsError(f"{what} must be on or off, got {value!r}")


def _read_config_file(environ: Mapping[str, str]) -> dict[str, object]:
    explicit = environ.get("MEDSYS_CONFIG")
    path = Path(explicit) if explicit else Path("medsys.toml")
    if not path.exists():
        if explicit:
            raise SettingsError(f"MEDSYS_CONFIG names {path}, which does not exist")
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path} is not valid TOML: {error}") from None


def _port_overrides(file_ports: object, environ: Mapping[str, str]) -> dict[str, int]:
    overrides: dict[str, int] = {}
    if isinstance(file_ports, dict):
        for service, port in file_ports.items():
            overrides[str(service)] = _as_int(port, f"port of {service}")
    for service in DEFAULT_PORTS:
        if _env_key(service) in environ:
            overrides[service] = _as_int(environ[_env_key(service)], _env_key(service))
    for service, port in overrides.items():
        if service not in DEFAULT_PORTS:
            raise SettingsError(f"unknown service {service!r} in port settings")
        if not 1 <= port <= 65535:
            raise SettingsError(f"port {port} of {service} is outside 1-65535")
    return overrides


ENDPOINT_PREFIX = "MEDSYS_DATABASE_ENDPOINT_"


def _database_endpoints(environ: Mapping[str, str]) -> dict[str, tuple[str, int]]:
    found: dict[str, tuple[str, int]] = {}
    for key, value in environ.items():
        if not key.startswith(ENDPOINT_PREFIX) or not value:
            continue
        pair = key.removeprefix(ENDPOINT_PREFIX).lower()
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise SettingsError(f"{key} must be host:port, got {value!r}")
        found[pair] = (host, int(port))
    return found


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    file_values = _read_config_file(environ)
    state_dir = environ.get("MEDSYS_STATE_DIR") or str(file_values.get("state_dir", "var"))
    offset = _as_int(
        environ.get("MEDSYS_PORT_OFFSET", file_values.get("port_offset", 0)), "port_offset"
    )
    user = environ.get("MEDSYS_SERVICE_USER") or str(file_values.get("service_user", "medsys"))
    overrides = _port_overrides(file_values.get("ports"), environ)
    network_name = environ.get("MEDSYS_NETWORK") or str(file_values.get("network", "loopback"))
    try:
        network = Network(network_name)
    except ValueError:
        choices = ", ".join(n.value for n in Network)
        raise SettingsError(f"network must be one of {choices}, got {network_name!r}") from None
    measurement = _on_or_off(
        environ.get("MEDSYS_MEASUREMENT") or file_values.get("measurement", True), "measurement"
    )
    backups_at = environ.get("MEDSYS_BACKUP_DIR") or file_values.get("backup_dir")
    endpoints = _database_endpoints(environ)
    demo_data = _on_or_off(
        environ.get("MEDSYS_DEMO_DATA") or file_values.get("demo_data", True), "demo_data"
    )
    chosen_wait = environ.get("MEDSYS_REPLICA_WAIT_MS") or file_values.get("replica_wait_ms")
    replica_wait_ms = None if chosen_wait is None else _as_int(chosen_wait, "replica_wait_ms")
    if replica_wait_ms is not None and not 0 <= replica_wait_ms <= 1000:
        raise SettingsError(f"replica_wait_ms must be 0-1000, got {replica_wait_ms}")
    password_hashing(environ)  # read by core.passwords itself; a wrong name fails here first
    settings = Settings(
        state_dir=Path(state_dir).absolute(),
        port_offset=offset,
        port_overrides=MappingProxyType(overrides),
        service_user=user,
        network=network,
        measurement=measurement,
        backups_at=Path(str(backups_at)).absolute() if backups_at else None,
        database_endpoints=MappingProxyType(endpoints),
        demo_data=demo_data,
        replica_wait_ms=replica_wait_ms,
    )
    for service in DEFAULT_PORTS:
        if not 1 <= settings.port(service) <= 65535:
            raise SettingsError(f"port offset {offset} puts {service} outside 1-65535")
    return settings
