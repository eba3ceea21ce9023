"""What the launcher's verbs do to the whole system, in order.

``up`` is idempotent: every step first looks whether it is already done (a node's data
marker, the pair state's ``bootstrapped`` flag, a running process), so a second ``up``
only starts what is stopped and keeps all data.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import psutil

from medsys.core.accounts import account_secrets
from medsys.core.keys import ensure_keys
from medsys.core.secrets import Secrets, ensure_secrets, load_secrets, write_account_views
from medsys.core.settings import Settings
from medsys.core.topology import PAIRS, Pair, pair_named, pair_of_monitor
from medsys.launcher import measurement, nginx, provision
from medsys.launcher.services import Kind, Service, service_named, service_table
from medsys.launcher.supervisor import Supervisor, SupervisorError
from medsys.nodes import adapter_for, pgbackrest
from medsys.nodes.base import NodeAdapter
from medsys.pairs.node import NodeProbe, Role
from medsys.pairs.state import (
    PairState,
    read_events,
    read_monitor_status,
    read_pair_state,
    update_pair_state,
    write_pair_state,
)

Say = Callable[[str], None]
RUNNING_STATES = frozenset({"RUNNING", "STARTING"})
READY_TIMEOUT = 60.0


def prepare_applications(settings: Settings, say: Say) -> None:
    """Migrations and demo data, once per application, before its instances start (the
    `medsys prepare` job of the compose file does the same)."""
    from medsys.admin.setup import prepare as prepare_admin
    from medsys.clinical.setup import prepare as prepare_clinical
    from medsys.portal.setup import prepare as prepare_portal

    steps = (
        ("clinical", prepare_clinical),
        ("admin", prepare_admin),
        ("portal", prepare_portal),
    )
    for name, prepare in steps:
        say(f"{name}: {prepare(settings)}")


class LaunchError(RuntimeError):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ServiceStatus:
    service: Service
    state: str
    pid: int | None
    role: str
    health: str
    rss_bytes: int


class Cluster:
    def __init__(self, settings: Settings, say: Say | None = None) -> None:
        self.settings = settings
        self.supervisor = Supervisor(settings)
        self._started = time.monotonic()
        self._say_lock = threading.Lock()
        self._say = say or (lambda message: None)
        self._adapters: dict[str, NodeAdapter] = {}

    def adapter(self, pair: Pair) -> NodeAdapter:
        """One per pair for this object's life; it reads the secrets when it first needs
        them, which is after `up` has made them."""
        if pair.name not in self._adapters:
            self._adapters[pair.name] = adapter_for(pair, self.settings)
        return self._adapters[pair.name]

    def say(self, message: str) -> None:
        with self._say_lock:
            self._say(f"[{time.monotonic() - self._started:5.1f}s] {message}")

    # --- up ----------------------------------------------------------------------------
    def up(self) -> float:
        """Bring everything up; returns the seconds it took."""
        self._started = time.monotonic()
        provision.ensure_packages(self.say)
        provision.ensure_service_accounts(self.settings)
        provision.check_state_dir_reachable(self.settings)
        self._check_state_folder()
        services = service_table(self.settings)
        self._check_ports(services)  # before anything is made: a refusal leaves no trace
        provision.prepare_state_folders(self.settings)
        secrets = ensure_secrets(self.settings)
        write_account_views(self.settings, secrets, account_secrets(self.settings))
        ensure_keys(self.settings)
        changed = self.supervisor.write_config(services)
        self.supervisor.ensure_running(changed)
        self.say("supervisor ready")
        with ThreadPoolExecutor(max_workers=len(PAIRS)) as pool:
            for future in [pool.submit(self.pair_up, pair, secrets) for pair in PAIRS]:
                future.result()
        self._prepare_applications()
        # medsys' own pgBackRest commands (backup, list, restore) see both nodes.
        pgbackrest.write_config(self.settings, secrets)
        apps = [service for service in services if service.kind is Kind.APP]
        for service in apps:
            self._start(service, wait=False)
        self._wait_healthy(apps)
        monitors = [service for service in services if service.kind is Kind.MONITOR]
        for service in monitors:
            self._start(service, wait=False)
        self._wait_running(monitors)
        schedulers = [service for service in services if service.kind is Kind.BACKUP]
        for service in schedulers:
            self._start(service, wait=False)
        self._wait_healthy(schedulers)
        observers = [service for service in services if service.kind is Kind.OBSERVER]
        if observers:
            measurement.write_files(self.settings)
            # A Prometheus already running reads its new configuration and rules.
            self.supervisor.signal("prometheus", "HUP")
            for service in observers:
                self._start(service, wait=False)
            self._wait_healthy(observers)
        self.say("all services started")
        return time.monotonic() - self._started

    def _prepare_applications(self) -> None:
        prepare_applications(self.settings, self.say)
        nginx.write_config(self.settings)

    def _wait_healthy(self, services: list[Service]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        for service in services:
            while (
                http_health(service) != 200 or self.supervisor.info(service.name).state != "RUNNING"
            ):
                state = self.supervisor.info(service.name).state
                if state not in RUNNING_STATES or time.monotonic() > deadline:
                    tail = self._tail(service.name)
                    raise LaunchError(f"{service.name} did not become healthy ({state}): {tail}")
                time.sleep(0.1)
            self.say(f"{service.name} healthy at {service.url}")

    def _check_state_folder(self) -> None:
        for pair in PAIRS:
            adapter = self.adapter(pair)
            state = read_pair_state(self.settings, pair)  # raises on a damaged file
            for node in pair.nodes:
                data = adapter.data_dir(node)
                provision.check_node_folder(data, node)
                if state is None and adapter.is_initialised(node):
                    raise LaunchError(
                        f"{node} has data but the {pair.name} pair state "
                        f"({self.settings.cluster_dir}/{pair.name}.json) is missing, so "
                        "medsys cannot know which node is primary. Restore that file, or "
                        "start over with `medsys down -v`.",
                        exit_code=5,
                    )

    def _check_ports(self, services: tuple[Service, ...]) -> None:
        """Before anything starts: every port we will need is free or already ours."""
        running = self.supervisor.all_info()
        for service in services:
            info = running.get(service.name)
            if service.port is not None and not (info and info.state in RUNNING_STATES):
                provision.check_port_free(service.name, service.port)

    def _start(self, service: Service, *, wait: bool = True) -> None:
        info = self.supervisor.info(service.name)
        if info.state in RUNNING_STATES:
            return
        if service.port is not None:
            provision.check_port_free(service.name, service.port)
        self.supervisor.start(service.name, wait=wait)

    def _wait_running(self, services: list[Service]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        for service in services:
            while (state := self.supervisor.info(service.name).state) != "RUNNING":
                if state not in RUNNING_STATES or time.monotonic() > deadline:
                    raise LaunchError(
                        f"{service.name} did not start ({state}): {self._tail(service.name)}"
                    )
                time.sleep(0.05)

    def pair_up(self, pair: Pair, secrets: Secrets) -> None:
        adapter = self.adapter(pair)
        state = read_pair_state(self.settings, pair)
        if state is None:
            state = PairState(pair=pair.name, primary=pair.initial_primary)
            write_pair_state(self.settings, pair, state)
        primary, replica = state.primary, pair.other(state.primary)
        if not adapter.is_initialised(primary):
            self.say(f"{primary}: initialising data")
            adapter.initialise(primary, Role.PRIMARY)
        self._start_node(pair, primary)
        if not state.bootstrapped:
            adapter.bootstrap_primary(primary)
        if not adapter.is_initialised(replica):
            self.say(f"{replica}: initialising data from {primary}")
            adapter.initialise(replica, Role.REPLICA)
        self._start_node(pair, replica)
        if not state.bootstrapped:
            adapter.attach_replica(replica, primary)
            self._wait_replicating(pair, secrets, primary, replica)
            write_pair_state(self.settings, pair, replace(state, bootstrapped=True))
            self.say(f"{pair.name}: {replica} replicates from {primary}")
        else:
            # At every later up, users, passwords and ownership follow the secrets and this
            # version; with the replica running, as these commits wait for it.
            adapter.bootstrap_primary(primary)

    def _start_node(self, pair: Pair, node: str) -> None:
        service = service_named(self.settings, node)
        self._start(service)
        adapter = self.adapter(pair)
        deadline = time.monotonic() + READY_TIMEOUT
        while not adapter.ping(node):
            info = self.supervisor.info(node)
            if info.state not in RUNNING_STATES:
                raise LaunchError(
                    f"{node} stopped while starting ({info.state}): {self._tail(node)}"
                )
            if time.monotonic() > deadline:
                raise LaunchError(
                    f"{node} did not answer within {READY_TIMEOUT:.0f} s: {self._tail(node)}"
                )
            time.sleep(0.1)
        self.say(f"{node} ready on port {service.port}")

    def _wait_replicating(self, pair: Pair, secrets: Secrets, primary: str, replica: str) -> None:
        adapter = self.adapter(pair)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            replica_probe = adapter.probe(replica)
            if replica_probe.receiving:
                return
            if time.monotonic() > deadline:
                raise LaunchError(
                    f"{replica} does not replicate from {primary}: {replica_probe.error}"
                )
            time.sleep(0.1)

    def _tail(self, name: str, lines: int = 8) -> str:
        path = self.settings.log_dir / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # --- single services ---------------------------------------------------------------
    def require_supervisor(self) -> None:
        if not self.supervisor.is_running():
            raise LaunchError("medsys is not running here; start it with `medsys up`", 2)

    def resolve(self, names: tuple[str, ...]) -> list[Service]:
        try:
            return [service_named(self.settings, name) for name in names]
        except KeyError as error:
            raise LaunchError(str(error.args[0]), exit_code=2) from None

    def start(self, names: tuple[str, ...]) -> None:
        """In the order named; the applications named start side by side and are waited
        for together at the end (each takes seconds to import and warm)."""
        services = self.resolve(names)
        self.require_supervisor()
        apps = []
        for service in services:
            if service.kind is Kind.DATABASE and service.pair:
                self._start_node(pair_named(service.pair), service.name)
            elif service.kind is Kind.APP:
                self._start(service, wait=False)
                apps.append(service)
            else:
                self._start(service)
                self.say(f"{service.name} started")
        self._wait_healthy(apps)

    def stop(self, names: tuple[str, ...]) -> None:
        """In the order named (stopping a monitor before its primary must keep it from
        promoting); when only applications are named they stop side by side."""
        services = self.resolve(names)
        self.require_supervisor()

        def stop(service: Service) -> None:
            self.supervisor.stop(service.name)
            self.say(f"{service.name} stopped")

        if len(services) > 1 and all(service.kind is Kind.APP for service in services):
            with ThreadPoolExecutor(max_workers=len(services)) as pool:
                list(pool.map(stop, services))
            return
        for service in services:
            stop(service)

    def kill(self, names: tuple[str, ...]) -> None:
        services = self.resolve(names)
        self.require_supervisor()
        for service in services:
            info = self.supervisor.info(service.name)
            if info.state not in RUNNING_STATES:
                raise LaunchError(f"{service.name} is not running ({info.state})", 2)
            self.supervisor.kill(service.name)
            self.say(f"{service.name} killed (SIGKILL to pid {info.pid})")

    def restart(self, names: tuple[str, ...]) -> None:
        self.stop(names)
        self.start(names)

    def down(self, delete_data: bool) -> None:
        if self.supervisor.is_running():
            self.say("stopping every service")
            self.supervisor.shutdown()
        self._wait_no_servers_left()
        if delete_data:
            provision.remove_state(self.settings)
            self.say(f"deleted {self.settings.state_dir}")

    def _wait_no_servers_left(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        data = str(self.settings.data_dir)
        while time.monotonic() < deadline:
            left = []
            for process in psutil.process_iter(["pid", "cwd"]):
                cwd = process.info.get("cwd") or ""
                if cwd.startswith(data):
                    left.append(process.pid)
            if not left:
                return
            time.sleep(0.1)
        raise LaunchError(f"processes still use {data}: {left}")

    # --- status ------------------------------------------------------------------------
    def status(self) -> list[ServiceStatus]:
        try:
            secrets: Secrets | None = load_secrets(self.settings)
        except Exception:
            secrets = None
        processes = self.supervisor.all_info()
        probes = self._probe_databases(secrets, processes)
        rows = []
        for service in service_table(self.settings):
            info = processes.get(service.name)
            state = info.state if info else "NOT CREATED"
            pid = info.pid if info and info.state in RUNNING_STATES else None
            role, health = self._role_and_health(service, state, probes.get(service.name))
            rows.append(ServiceStatus(service, state, pid, role, health, _rss(pid)))
        return rows

    def _probe_databases(
        self, secrets: Secrets | None, processes: Mapping[str, object]
    ) -> dict[str, NodeProbe]:
        if secrets is None:
            return {}
        nodes = [(pair, node) for pair in PAIRS for node in pair.nodes if node in processes]
        with ThreadPoolExecutor(max_workers=6) as pool:
            found = pool.map(
                lambda item: adapter_for(item[0], self.settings, secrets).probe(item[1]), nodes
            )
            return {probe.node: probe for probe in found}

    def _role_and_health(
        self, service: Service, state: str, probe: NodeProbe | None
    ) -> tuple[str, str]:
        if service.kind is Kind.MONITOR:
            return self._monitor_role_and_health(service, state)
        if service.kind in (Kind.APP, Kind.OBSERVER, Kind.BACKUP):
            if state not in RUNNING_STATES:
                return "-", "down"
            code = http_health(service)
            return "-", "ok" if code == 200 else f"unhealthy ({code or 'no answer'})"
        if probe is None or not probe.reachable:
            return "-", "down" if state not in RUNNING_STATES else "unreachable"
        if probe.writable:
            replication = "no replica"
            if probe.replica_streaming:
                replication = "sync" if probe.sync_active else "async"
            return "primary", f"ok ({replication})"
        lag = f", lag {probe.lag}" if probe.lag else ""
        if probe.receiving:
            return "replica", f"ok (streaming{lag})"
        return "replica", f"not replicating{': ' + probe.error if probe.error else ''}"

    def _monitor_role_and_health(self, service: Service, state: str) -> tuple[str, str]:
        pair = pair_named(service.pair or "")
        published = read_monitor_status(self.settings, pair)
        if state != "RUNNING":
            return "-", "down"
        if published is None or time.time() - float(published.get("time", 0)) > 10:
            return "-", "starting (no recent cycle)"
        return f"term {published['term']}", str(published["health"])

    def recent_events(self, limit: int = 3) -> list[dict[str, object]]:
        events = [event for pair in PAIRS for event in read_events(self.settings, pair)]
        events = [e for e in events if e.get("event") not in ("monitor-started",)]
        return sorted(events, key=lambda event: float(str(event["time"])))[-limit:]

    def acknowledge(self, names: tuple[str, ...]) -> list[PairState]:
        pairs = list(PAIRS) if names == ("all",) else []
        for name in names if names != ("all",) else ():
            try:
                pairs.append(pair_named(name))
            except KeyError:
                try:
                    pairs.append(pair_of_monitor(name))
                except KeyError:
                    known = ", ".join(p.name for p in PAIRS)
                    raise LaunchError(
                        f"unknown pair {name!r}; pairs are: {known}, all", 2
                    ) from None
        return [
            update_pair_state(self.settings, pair, lambda s: replace(s, failover_acknowledged=True))
            for pair in pairs
        ]


def database_memory(rows: list[ServiceStatus]) -> int:
    """Resident memory of the database servers, from rows already gathered."""
    return sum(row.rss_bytes for row in rows if row.service.kind is Kind.DATABASE)


def measurement_memory(rows: list[ServiceStatus]) -> tuple[int, int]:
    """Resident and proportional (PSS) memory of Prometheus, the blackbox exporter and the
    journey prober. PSS is what they cost the machine: a Python process's resident pages
    include the interpreter's, shared with every other Python service."""
    observers = [row for row in rows if row.service.kind is Kind.OBSERVER]
    proportional = 0
    for row in observers:
        if row.pid is None:
            continue
        try:
            process = psutil.Process(row.pid)
            for each in (process, *process.children(recursive=True)):
                proportional += each.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return sum(row.rss_bytes for row in observers), proportional


def http_health(service: Service, timeout: float = 1.0) -> int | None:
    """The status code of the service's health URL, None when it does not answer."""
    if service.port is None or service.health_path is None:
        return None
    url = f"http://127.0.0.1:{service.port}{service.health_path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, ValueError):
        return None


def _rss(pid: int | None) -> int:
    if pid is None:
        return 0
    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
        return sum(member.memory_info().rss for member in family)
    except psutil.NoSuchProcess:
        return 0


__all__ = ["Cluster", "LaunchError", "ServiceStatus", "SupervisorError"]
