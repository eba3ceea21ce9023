"""The process a database container runs: ``python -m medsys.nodes.agent NODE``.

Locally, supervisord runs each server through ``medsys.nodes.entry`` and the monitor
fences, stops and starts it through supervisord. A container has no such neighbour, so its
agent keeps the server as a child and is the monitor's hands there:

- before every boot it asks the pair state for the node's role (``plan.plan_boot``):
  initialises an empty volume (a primary from nothing, a replica from the primary),
  rewinds a PostgreSQL ex-primary, waits while a failover is being written;
- after boot it makes a primary's users, or makes a replica follow the recorded primary,
  rebuilding a MariaDB node that diverged (the data is here, not in the monitor's container);
- while the server runs (``plan.watch``) it carries out the monitor's requests
  (``medsys.nodes.remote``) and SIGKILLs its own server when the state names another
  primary: a thawed or partitioned old primary fences itself;
- when the server dies on its own, the agent exits with it and Docker's restart policy
  brings the container back, to boot in whatever role the state names by then.

``python -m medsys.nodes.agent --check NODE`` is the container's healthcheck.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

from medsys.core.logs import configure_logging, name_and_check
from medsys.core.secrets import load_secrets
from medsys.core.settings import Settings, load_settings
from medsys.core.topology import Pair, pair_of_node
from medsys.nodes import adapter_for
from medsys.nodes.base import (
    NodeAdapter,
    NodeError,
    kill_processes_using,
    one_line,
    owned_directory,
    service_user,
)
from medsys.nodes.plan import BootStep, Verdict, plan_boot, watch
from medsys.nodes.remote import HEARTBEAT_STALE_SECONDS, read_request, read_status, write_status
from medsys.pairs.lease import LEASE_SECONDS, lapsed_for, read_lease
from medsys.pairs.node import Role
from medsys.pairs.state import (
    PairState,
    read_pair_state,
    replace_pair_state,
    update_pair_state,
)

log = logging.getLogger("medsys.agent")

WATCH_EVERY = 0.25
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


class Agent:
    def __init__(self, settings: Settings, node: str) -> None:
        self.settings = settings
        self.node = node
        self.pair: Pair = pair_of_node(node)
        self.adapter: NodeAdapter = adapter_for(self.pair, settings, load_secrets(settings))
        self.server: subprocess.Popen[bytes] | None = None
        self.role = Role.REPLICA
        self.served_as_primary = False
        self.following: str | None = None
        self.boots = 0
        self.booted_at = 0.0
        self.note = "starting"
        previous = read_status(settings, node) or {}
        self.handled_seq = int(previous.get("handled_seq", 0))

    # --- status -----------------------------------------------------------------------
    def publish(self, *, ready: bool = False) -> None:
        write_status(
            self.settings,
            self.node,
            {
                "node": self.node,
                "agent_pid": os.getpid(),
                "heartbeat": time.time(),
                "server_running": self.server_alive(),
                "ready": ready,
                "role": self.role.value,
                "following": self.following,
                "handled_seq": self.handled_seq,
                "boots": self.boots,
                "note": self.note,
            },
        )

    def say(self, note: str) -> None:
        self.note = note
        log.info("%s: %s", self.node, note)
        self.publish()

    # --- the pair state ---------------------------------------------------------------
    def state(self) -> PairState:
        """The recorded state; the first agent of a pair records the initial one."""
        while True:
            state = read_pair_state(self.settings, self.pair)
            if state is not None:
                return state
            initial = PairState(pair=self.pair.name, primary=self.pair.initial_primary)
            if replace_pair_state(self.settings, self.pair, None, initial):
                self.say(f"recorded the initial state: {initial.primary} is primary")

    # --- the server -------------------------------------------------------------------
    def server_alive(self) -> bool:
        return self.server is not None and self.server.poll() is None

    def start_server(self, role: Role) -> None:
        in_sync = self.state().replica_in_sync
        argv = self.adapter.boot_argv(self.node, role, synchronous=in_sync)
        user = service_user(self.settings)
        as_root = os.geteuid() == 0
        self.server = subprocess.Popen(
            argv,
            cwd=self.adapter.data_dir(self.node),
            user=user.uid if as_root else None,
            group=user.gid if as_root else None,
            extra_groups=[] if as_root else None,
        )
        self.role = role
        self.served_as_primary = role is Role.PRIMARY
        self.following = None
        self.boots += 1
        self.booted_at = time.time()
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.adapter.ping(self.node):
            if not self.server_alive():
                raise NodeError(f"the server exited while booting (status {self.server.poll()})")
            if time.monotonic() > deadline:
                raise NodeError(f"the server did not answer within {READY_TIMEOUT:.0f} s")
            # A slow boot is not a dead agent: the monitor reads a stale heartbeat so.
            self.publish()
            time.sleep(0.2)

    def stop_server(self, *, hard: bool) -> None:
        if self.server is None:
            return
        if self.server_alive():
            if hard:
                self.server.kill()
            else:
                self.server.send_signal(self.adapter.STOP_SIGNAL)
                try:
                    self.server.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.server.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.server.wait(timeout=10)
        # PostgreSQL's backends leave the postmaster's group: no child may go on committing.
        kill_processes_using(self.adapter.data_dir(self.node))
        self.server = None

    # ProcessControl, for MariaDBAdapter.rejoin's rebuild of this node.
    def start(self, name: str, *, wait: bool = True) -> None:
        self.start_server(Role.REPLICA)

    def stop(self, name: str) -> None:
        self.stop_server(hard=False)

    def kill(self, name: str) -> None:
        self.stop_server(hard=True)

    def is_process_running(self, name: str) -> bool:
        return self.server_alive()

    def failed_to_start(self, name: str) -> bool:
        return False  # this agent boots the server itself and sees each attempt

    # --- boot -------------------------------------------------------------------------
    def prepare(self) -> tuple[Role, str, bool]:
        """Steps until the server may boot; returns its role, the primary, and whether the
        data was made just now."""
        fresh = False
        while True:
            state = self.state()
            data_dir = self.adapter.data_dir(self.node)
            initialised = self.adapter.is_initialised(self.node)
            ex_primary = self.adapter.last_ran_as_primary(self.node)
            request = read_request(self.settings, self.node)
            plan = plan_boot(
                self.node,
                state,
                initialised=initialised,
                last_ran_as_primary=ex_primary,
                latest_request=request,
                now=time.time(),
            )
            if plan.step is BootStep.WAIT_FOR_FAILOVER:
                self.say(plan.why)
                time.sleep(0.5)
                continue
            if request is not None and request.seq > self.handled_seq:
                # Booting in the state's role is what any request before boot asked for.
                self.handled_seq = request.seq
            try:
                if plan.step is BootStep.INITIALISE:
                    owned_directory(self.settings, data_dir.parent, 0o755)
                    self.say(f"initialising as {plan.role} ({plan.why})")
                    self.adapter.initialise(self.node, plan.role)
                    fresh = True
                    continue
                if plan.step is BootStep.REWIND:
                    if not self.primary_takes_writes(plan.primary):
                        # Rewinding onto a standby still being promoted finds no fork
                        # to undo, and the node would then never stream again.
                        self.say(f"waiting for {plan.primary} to finish its promotion")
                        time.sleep(0.5)
                        continue
                    self.say(f"rewinding onto {plan.primary} ({plan.why})")
                    self.say(self.adapter.rewind_or_rebuild(self.node, plan.primary))
                    continue
            except NodeError as error:
                # A replica copies from the primary, which may not be up yet.
                self.say(f"{plan.step} failed, retrying in 2 s: {one_line(error)}")
                time.sleep(2)
                continue
            return plan.role, plan.primary, fresh

    def after_boot(self, role: Role, primary: str, fresh: bool) -> None:
        state = self.state()
        if role is Role.PRIMARY:
            if not state.bootstrapped:
                self.adapter.bootstrap_primary(self.node)
                self.say("users and database made")
            return
        if self.adapter.ATTACHES_AFTER_BOOT:
            if fresh:
                self.adapter.attach_replica(self.node, primary)
            else:
                self.wait_for_primary(primary)
                self.say(self.adapter.rejoin(self.node, primary, self))
        self.wait_following(primary)
        if not state.bootstrapped:
            # Under the lock, on the state as it is now: the monitor writes it meanwhile.
            update_pair_state(self.settings, self.pair, lambda now: replace(now, bootstrapped=True))

    def primary_takes_writes(self, primary: str) -> bool:
        probe = self.adapter.probe(primary)
        return probe.reachable and probe.writable

    def wait_for_primary(self, primary: str) -> None:
        """Never judge divergence against a primary that is not there: that is a rebuild
        for nothing."""
        while True:
            if self.primary_takes_writes(primary):
                return
            self.say(f"waiting for {primary} to take writes before rejoining it")
            self.watch_briefly(1.0)

    def wait_following(self, primary: str) -> None:
        wanted = self.settings.port(primary)
        while True:
            probe = self.adapter.probe(self.node)
            if probe.receiving and probe.upstream_port == wanted:
                self.following = primary
                self.say(f"replica of {primary}")
                return
            self.note = f"not yet streaming from {primary}: {probe.error or 'connecting'}"
            self.watch_briefly(1.0)

    def watch_briefly(self, seconds: float) -> None:
        """Waiting, but still a fence: the server must not outlive a state that moved on."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.judge() is not Verdict.KEEP_RUNNING:
                raise Interrupted
            self.publish()
            time.sleep(WATCH_EVERY)

    # --- running ----------------------------------------------------------------------
    def judge(self) -> Verdict:
        state = read_pair_state(self.settings, self.pair)
        if state is not None and state.primary == self.node:
            self.served_as_primary = True  # booted so, or promoted by the monitor
            self.following = None
        return watch(
            self.node,
            self.served_as_primary,
            state,
            request=read_request(self.settings, self.node),
            handled_seq=self.handled_seq,
            server_alive=self.server_alive(),
            isolated_past_lease=self.isolated_past_lease(state),
        )

    def isolated_past_lease(self, state: PairState | None) -> bool:
        """The primary's side of the lease (``medsys.pairs.lease``): no monitor renewed
        it, its replica is out of reach, and the state says the replica was in sync, so
        the monitor may promote it once the lease is out. In reach means its agent beats
        and says it follows this node, and this server sees it streaming (a frozen
        replica's connection lingers in the process list for minutes). A server just
        booted gets one lease of grace for its replica to reconnect."""
        if state is None or state.primary != self.node or not state.replica_in_sync:
            return False
        now = time.time()
        if now - self.booted_at < LEASE_SECONDS or not lapsed_for(
            self.node, read_lease(self.settings, self.pair), now
        ):
            return False
        replica = read_status(self.settings, self.pair.other(self.node)) or {}
        beating = now - float(replica.get("heartbeat", 0)) < HEARTBEAT_STALE_SECONDS
        if not (beating and replica.get("following") == self.node):
            return True
        return not self.adapter.probe(self.node).replica_streaming

    def act(self, verdict: Verdict) -> bool:
        """Carry out a verdict; False when the agent must exit (the server died)."""
        if verdict is Verdict.SERVER_DIED:
            code = self.server.poll() if self.server else None
            self.say(f"the server exited on its own (status {code}); the container restarts")
            return False
        request = read_request(self.settings, self.node)
        if request is not None and request.seq > self.handled_seq:
            self.handled_seq = request.seq
        if verdict is Verdict.SELF_FENCE:
            self.stop_server(hard=True)
            self.say("fenced itself: the pair state names another primary")
        elif verdict is Verdict.LEASE_LAPSED:
            self.stop_server(hard=True)
            self.say("fenced itself: its lease ran out with no monitor and no replica in reach")
        elif verdict is Verdict.KILL:
            self.stop_server(hard=True)
            self.say(f"killed on request: {request.reason if request else 'fence'}")
        elif verdict is Verdict.RESTART:
            self.stop_server(hard=False)
            self.say(f"stopped on request: {request.reason if request else 'restart'}")
        return True

    def run(self) -> int:
        while True:
            role, primary, fresh = self.prepare()
            self.say(f"booting as {role}" + ("" if role is Role.PRIMARY else f" of {primary}"))
            ready = False
            try:
                self.start_server(role)
                self.after_boot(role, primary, fresh)
                ready = True
            except Interrupted:
                pass  # judged again below: the server never outlives its verdict
            except Exception as error:  # a failed boot or rejoin must not end the agent
                self.say(f"boot failed: {type(error).__name__}: {one_line(error)}")
                self.stop_server(hard=False)
                time.sleep(2)
                continue
            while (verdict := self.judge()) is Verdict.KEEP_RUNNING:
                self.publish(ready=ready)
                time.sleep(WATCH_EVERY)
            if not self.act(verdict):
                return 1


class Interrupted(Exception):
    """A wait cut short because the server must stop (see ``Agent.watch_briefly``)."""


def healthy(settings: Settings, node: str) -> bool:
    status: dict[str, Any] = read_status(settings, node) or {}
    fresh = time.time() - float(status.get("heartbeat", 0)) < HEARTBEAT_STALE_SECONDS
    return fresh and bool(status.get("ready")) and bool(status.get("server_running"))


def main(argv: list[str]) -> int:
    configure_logging()
    parsed = name_and_check(argv, "usage: python -m medsys.nodes.agent [--check] NODE")
    if parsed is None:
        return 2
    node, check = parsed
    settings = load_settings()
    if check:
        return 0 if healthy(settings, node) else 1
    agent = Agent(settings, node)

    def on_term(signum: int, _frame: object) -> None:
        agent.say("asked to stop (docker stop): shutting the server down cleanly")
        agent.stop_server(hard=False)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        return agent.run()
    finally:
        agent.stop_server(hard=False)  # never leave a server running without its agent


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
