"""The live system as the chaos runner drives it: faults, waits and looks."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from medsys.core.secrets import Secrets, load_secrets
from medsys.core.settings import Settings
from medsys.core.topology import Pair
from medsys.launcher.cluster import Cluster
from medsys.nodes import adapter_for
from medsys.nodes.base import NodeAdapter, processes_using
from medsys.pairs.node import NodeProbe
from medsys.pairs.state import (
    PairState,
    read_events,
    read_monitor_status,
    read_pair_state,
    update_pair_state,
)


class ScenarioError(RuntimeError):
    """The system did not reach a state a scenario waits for."""


class Lab:
    def __init__(self, settings: Settings, say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.secrets: Secrets = load_secrets(settings)
        self._adapters: dict[str, NodeAdapter] = {}
        self.cluster = Cluster(settings)
        self.say = say

    def state(self, pair: Pair) -> PairState:
        state = read_pair_state(self.settings, pair)
        if state is None:
            raise ScenarioError(f"the {pair.name} pair has no state: run `medsys up`")
        return state

    def adapter(self, pair: Pair) -> NodeAdapter:
        if pair.name not in self._adapters:
            self._adapters[pair.name] = adapter_for(pair, self.settings, self.secrets)
        return self._adapters[pair.name]

    def probe(self, pair: Pair, node: str) -> NodeProbe:
        return self.adapter(pair).probe(node)

    def acknowledge(self, pair: Pair) -> None:
        update_pair_state(self.settings, pair, lambda s: replace(s, failover_acknowledged=True))

    def wait_until(self, what: str, check: Callable[[], bool], timeout: float) -> float:
        """Seconds it took; ScenarioError naming ``what`` after ``timeout``."""
        started = time.monotonic()
        while not check():
            if time.monotonic() - started > timeout:
                raise ScenarioError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.1)
        return time.monotonic() - started

    def wait_ready(self, pair: Pair, timeout: float = 90) -> None:
        """Both nodes up, replica in sync, monitor healthy, last failover acknowledged."""
        for node in (*pair.nodes, pair.monitor):
            if not self.cluster.supervisor.is_process_running(node):
                self.cluster.start((node,))
        self.acknowledge(pair)

        def ready() -> bool:
            state = self.state(pair)
            published = read_monitor_status(self.settings, pair) or {}
            fresh = time.time() - float(published.get("time", 0)) < 5
            return (
                state.replica_in_sync
                and not state.promotion_pending
                and fresh
                and published.get("health") == "healthy"
            )

        self.wait_until(f"the {pair.name} pair to be healthy and in sync", ready, timeout)

    def pid(self, name: str) -> int:
        info = self.cluster.supervisor.info(name)
        if info.pid is None:
            raise ScenarioError(f"{name} is not running")
        return info.pid

    def kill(self, name: str) -> None:
        self.cluster.supervisor.kill(name)

    def stop(self, name: str) -> None:
        self.cluster.supervisor.stop(name)

    def start(self, name: str) -> None:
        self.cluster.start((name,))

    def freeze(self, pair: Pair, name: str) -> list[int]:
        """SIGSTOP every process of the server, as a hung host would be: stopping
        PostgreSQL's postmaster alone leaves its walsenders streaming."""
        self.pid(name)  # it must be running
        pids = [p.pid for p in processes_using(self.adapter(pair).data_dir(name))]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    def thaw(self, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):  # fenced (killed) meanwhile: good
                os.kill(pid, signal.SIGCONT)

    def events(self, pair: Pair, since: float) -> list[dict[str, Any]]:
        return read_events(self.settings, pair, since)

    def first_event(self, pair: Pair, name: str, since: float) -> dict[str, Any] | None:
        return next((e for e in self.events(pair, since) if e["event"] == name), None)

    def wait_event(self, pair: Pair, name: str, since: float, timeout: float = 30) -> float:
        """Seconds from ``since`` (wall clock) to the event."""
        found: dict[str, Any] = {}

        def seen() -> bool:
            event = self.first_event(pair, name, since)
            if event:
                found.update(event)
            return event is not None

        self.wait_until(f"event {name!r} on {pair.name}", seen, timeout)
        return float(found["time"]) - since

    def wait_rejoined(self, pair: Pair, node: str, timeout: float = 60) -> float:
        def following() -> bool:
            probe = self.probe(pair, node)
            return probe.reachable and not probe.writable and probe.receiving

        return self.wait_until(f"{node} to replicate again", following, timeout)
