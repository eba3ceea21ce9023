"""The monitor's hands in containers: requests to a node's agent through the shared state
volume, and the status each agent publishes there.

A monitor cannot kill or start a process in another container (and is not given the Docker
socket, which would make it root on the host). It writes a request beside the pair state;
the node's agent carries it out and reports. A frozen container cannot read its request:
it is fenced by the pair state itself, which its agent checks before the server may take
another write after the thaw.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from medsys.core.settings import Settings
from medsys.core.topology import pair_of_node
from medsys.nodes.base import NodeError
from medsys.nodes.plan import ControlRequest
from medsys.pairs.hands import Report
from medsys.pairs.state import read_pair_state

HEARTBEAT_STALE_SECONDS = 3.0
REJOIN_TIMEOUT_SECONDS = 180.0


def control_dir(settings: Settings) -> Path:
    return settings.cluster_dir / "control"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data))
    temporary.replace(path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_request(settings: Settings, node: str) -> ControlRequest | None:
    data = _read_json(control_dir(settings) / f"{node}.request.json")
    if data is None:
        return None
    try:
        return ControlRequest(**data)
    except TypeError:
        return None


def write_request(settings: Settings, node: str, verb: str, reason: str) -> ControlRequest:
    previous = read_request(settings, node)
    state = read_pair_state(settings, pair_of_node(node))
    request = ControlRequest(
        seq=(previous.seq if previous else 0) + 1,
        verb=verb,
        reason=reason,
        at=time.time(),
        term=state.term if state else 0,
    )
    _write_json(control_dir(settings) / f"{node}.request.json", asdict(request))
    return request


def write_status(settings: Settings, node: str, status: dict[str, Any]) -> None:
    _write_json(control_dir(settings) / f"{node}.status.json", status)


def read_status(settings: Settings, node: str) -> dict[str, Any] | None:
    return _read_json(control_dir(settings) / f"{node}.status.json")


class AgentControl:
    """ProcessControl for the monitors in containers (see the module's docstring)."""

    def __init__(self, settings: Settings, *, wait_seconds: float = 5.0) -> None:
        self.settings = settings
        self.wait_seconds = wait_seconds

    def failed_to_start(self, name: str) -> bool:
        return False  # a container's server is its agent's to boot; it reports no such state

    def is_process_running(self, name: str) -> bool:
        status = read_status(self.settings, name)
        # A stale heartbeat is a frozen or dead container: still "running" for a fence,
        # whose request its agent will read first thing after a thaw.
        return bool(status and status.get("server_running"))

    def _handled(self, name: str, seq: int) -> bool:
        status = read_status(self.settings, name) or {}
        return int(status.get("handled_seq", 0)) >= seq

    def _ask(self, name: str, verb: str, reason: str, wait: float) -> bool:
        request = write_request(self.settings, name, verb, reason)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self._handled(name, request.seq):
                return True
            time.sleep(0.1)
        return False

    def _settled_following(self, node: str) -> str | None:
        """Whom the node follows once a boot in progress is over: an agent that is booting
        rejoins by itself, and a restart requested meanwhile would only repeat its work."""
        deadline = time.monotonic() + REJOIN_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            status = read_status(self.settings, node) or {}
            fresh = time.time() - float(status.get("heartbeat", 0)) < HEARTBEAT_STALE_SECONDS
            if not fresh or status.get("ready"):
                following = status.get("following")
                return str(following) if following else None
            time.sleep(0.2)
        return None

    def kill(self, name: str) -> None:
        # A frozen agent acts on it after the thaw; waiting for it would delay the failover.
        status = read_status(self.settings, name) or {}
        alive = time.time() - float(status.get("heartbeat", 0)) < HEARTBEAT_STALE_SECONDS
        self._ask(name, "kill", "fenced by the monitor", self.wait_seconds if alive else 0.0)

    def stop(self, name: str) -> None:
        self.kill(name)

    def start(self, name: str, *, wait: bool = True) -> None:
        """The agent boots its server again by itself, in the role the state names."""

    def rejoin(self, node: str, primary: str) -> str:
        """Ask the agent to boot again as a replica (rewinding or rebuilding locally, where
        the data is) and wait until it follows ``primary``."""
        if self._settled_following(node) == primary:
            return f"{node} already rejoined {primary} by itself at boot"
        request = write_request(self.settings, node, "restart", f"rejoin {primary}")
        deadline = time.monotonic() + REJOIN_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            status = read_status(self.settings, node) or {}
            handled = int(status.get("handled_seq", 0)) >= request.seq
            if handled and status.get("following") == primary:
                return f"{node} rejoined {primary} through its agent"
            time.sleep(0.2)
        raise NodeError(
            f"{node}'s agent did not rejoin {primary} in {REJOIN_TIMEOUT_SECONDS:.0f} s"
        )


class AgentHands:
    """A monitor's hands in containers: requests its nodes' agents carry out. A frozen
    agent acts only after it thaws, so such a fence is not certain (the lease backs it)."""

    fence_is_certain = False

    def __init__(self, control: AgentControl) -> None:
        self.control = control

    def fence(self, node: str, reason: str) -> str:
        if not self.control.is_process_running(node):
            return f"{node} already down"
        self.control.kill(node)
        return f"{node} fence requested from its agent ({reason})"

    def rejoin(self, node: str, primary: str, report: Report) -> str:
        # The data to rewind or rebuild is in the node's container, not here.
        return self.control.rejoin(node, primary)

    def failed_to_start(self, node: str) -> bool:
        return self.control.failed_to_start(node)

    def rebuild(self, node: str, primary: str, report: Report) -> str:
        # Never asked for: failed_to_start is always false here (see AgentControl).
        return f"{node} is rebuilt by its own agent, not from here"
