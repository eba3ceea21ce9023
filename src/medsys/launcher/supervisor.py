"""supervisord as our process manager: its config written from the service table, its
XML-RPC interface (over a unix socket inside the state folder) used for every action."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport

from medsys.core.accounts import account_name, control_group
from medsys.core.secrets import SECRET_ENVIRONMENT
from medsys.core.settings import Settings
from medsys.launcher.services import Service


class SupervisorError(RuntimeError):
    pass


@dataclass(frozen=True)
class ProcessInfo:
    name: str
    state: str  # RUNNING, STOPPED, EXITED, FATAL, STARTING, BACKOFF, STOPPING
    pid: int | None
    description: str


# A server whose data cannot boot can take longer than startsecs to fail on a busy machine
# (seen in CI: MariaDB needed 1.2 s): supervisord counts that attempt as started, and as
# database nodes are not restarted by it, leaves the node EXITED rather than FATAL, and the
# monitor waited for a FATAL that never came. An error exit this soon after a start is the
# same failure.
FAILED_START_WITHIN = 15.0


def failed_start(state: str, exit_status: int, started: float, stopped: float) -> bool:
    """FATAL (it exited within startsecs on every one of startretries attempts), or an
    exit with an error code (not a signal: supervisord reports those as -1, a kill is no
    failed start) within ``FAILED_START_WITHIN`` seconds of starting."""
    if state == "FATAL":
        return True
    quick = 0 <= stopped - started < FAILED_START_WITHIN
    return state == "EXITED" and exit_status > 0 and quick


def socket_path(settings: Settings) -> Path:
    return settings.run_dir / "supervisor.sock"


def config_path(settings: Settings) -> Path:
    return settings.state_dir / "supervisord.conf"


def _quote_env(environment: dict[str, str]) -> str:
    return ",".join(f'{key}="{value}"' for key, value in sorted(environment.items()))


def _account_lines(settings: Settings, service: Service) -> tuple[str, dict[str, str]]:
    """``user=`` and the environment of a process that runs as its own account."""
    if service.account is None or os.geteuid() != 0:
        return "", {}
    name = account_name(settings, service.account)
    return f"user={name}\n", {"HOME": "/nonexistent", "USER": name, "LOGNAME": name}


def _without_secrets(environment: Mapping[str, str]) -> dict[str, str]:
    """supervisord passes its own environment to every child: no secret may be in it
    (each process loads only its own, from its account's file)."""
    return {
        key: value
        for key, value in environment.items()
        if key not in SECRET_ENVIRONMENT.values() and not key.startswith("MEDSYS_SIGNING_KEY_")
    }


def render_config(settings: Settings, services: tuple[Service, ...]) -> str:
    run, log = settings.run_dir, settings.log_dir
    # As root, only root and the control group (the monitors) may drive supervisord.
    access = (
        f"chmod=0770\nchown=root:{control_group(settings)}\n"
        if os.geteuid() == 0
        else "chmod=0700\n"
    )
    sections = [
        f"[unix_http_server]\nfile={socket_path(settings)}\n{access}",
        "[supervisord]\n"
        f"logfile={log / 'supervisord.log'}\npidfile={run / 'supervisord.pid'}\n"
        f"childlogdir={log}\nloglevel=info\nminfds=4096\n",
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
        f"[supervisorctl]\nserverurl=unix://{socket_path(settings)}\n",
    ]
    base_environment = {**settings.to_environ(), "PYTHONUNBUFFERED": "1"}
    for service in services:
        user_line, account_environment = _account_lines(settings, service)
        environment = {**base_environment, **account_environment, **service.environment}
        sections.append(
            f"[program:{service.name}]\n"
            f"command={shlex.join(service.command)}\n"
            f"{user_line}"
            f"directory={settings.state_dir}\n"
            f"environment={_quote_env(environment)}\n"
            "autostart=false\n"
            f"autorestart={'true' if service.autorestart else 'false'}\n"
            "startsecs=1\nstartretries=3\n"
            f"stopsignal={service.stop_signal}\nstopwaitsecs=60\n"
            "stopasgroup=true\nkillasgroup=true\n"
            f"stdout_logfile={log / (service.name + '.log')}\n"
            "stdout_logfile_maxbytes=20MB\nstdout_logfile_backups=3\nredirect_stderr=true\n"
        )
    return "\n".join(sections)


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _proxy(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{socket_path(self._settings)}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def is_running(self) -> bool:
        if not socket_path(self._settings).exists():
            return False
        try:
            return bool(self._proxy().getState()["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Error):
            return False

    def write_config(self, services: tuple[Service, ...]) -> bool:
        """Write the config; True when it changed."""
        path = config_path(self._settings)
        text = render_config(self._settings, services)
        if path.exists() and path.read_text() == text:
            return False
        for folder in (self._settings.run_dir, self._settings.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return True

    def ensure_running(self, config_changed: bool) -> None:
        if self.is_running():
            if config_changed:
                self._apply_config_changes()
            return
        stale = socket_path(self._settings)
        if stale.exists():
            stale.unlink()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "medsys.launcher.supervisord_main",
                "-c",
                str(config_path(self._settings)),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**_without_secrets(os.environ), **self._settings.to_environ()},
        )
        if result.returncode != 0:
            raise SupervisorError(f"supervisord did not start: {result.stderr.strip()}")
        deadline = time.monotonic() + 10
        while not self.is_running():
            if time.monotonic() > deadline:
                raise SupervisorError("supervisord started but does not answer on its socket")
            time.sleep(0.05)

    def _apply_config_changes(self) -> None:
        proxy = self._proxy()
        added, changed, removed = proxy.reloadConfig()[0]
        for name in removed + changed:
            with contextlib.suppress(xmlrpc.client.Fault):
                proxy.stopProcessGroup(name)
            proxy.removeProcessGroup(name)
        for name in added + changed:
            proxy.addProcessGroup(name)

    def info(self, name: str) -> ProcessInfo:
        raw = self._proxy().getProcessInfo(name)
        return ProcessInfo(name, raw["statename"], raw["pid"] or None, raw["description"])

    def all_info(self) -> dict[str, ProcessInfo]:
        if not self.is_running():
            return {}
        return {
            raw["name"]: ProcessInfo(
                raw["name"], raw["statename"], raw["pid"] or None, raw["description"]
            )
            for raw in self._proxy().getAllProcessInfo()
        }

    def start(self, name: str, *, wait: bool = True) -> None:
        try:
            self._proxy().startProcess(name, wait)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise SupervisorError(f"{name} did not start: {fault.faultString}") from None

    def stop(self, name: str) -> None:
        try:
            self._proxy().stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise SupervisorError(f"{name} did not stop: {fault.faultString}") from None

    def kill(self, name: str) -> None:
        try:
            self._proxy().signalProcess(name, "KILL")
        except xmlrpc.client.Fault as fault:
            raise SupervisorError(f"{name} cannot be killed: {fault.faultString}") from None

    def signal(self, name: str, signal_name: str) -> None:
        """Signal a running service (HUP: reload); one that is not running is left so."""
        try:
            self._proxy().signalProcess(name, signal_name)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise SupervisorError(f"{name} was not signalled: {fault.faultString}") from None

    def is_process_running(self, name: str) -> bool:
        return self.info(name).state in ("RUNNING", "STARTING")

    def failed_to_start(self, name: str) -> bool:
        raw = self._proxy().getProcessInfo(name)
        return failed_start(raw["statename"], raw["exitstatus"], raw["start"], raw["stop"])

    def pid(self) -> int | None:
        try:
            return int(cast(int, self._proxy().getPID()))
        except (OSError, xmlrpc.client.Error):
            return None

    def shutdown(self, timeout: float = 120) -> None:
        if not self.is_running():
            return
        pid = self.pid()
        proxy = self._proxy()
        proxy.stopAllProcesses(True)
        proxy.shutdown()
        deadline = time.monotonic() + timeout
        while pid and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
