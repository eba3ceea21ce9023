"""A monitor's hands on this host: the local supervisord's process control, a SIGKILL for a
fence, and a rejoin (which may rebuild a node from a copy: minutes on a big database) in a
thread of its own beside the monitor's probe loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from medsys.nodes.base import (
    NodeAdapter,
    NodeError,
    ProcessControl,
    kill_processes_using,
    one_line,
    rebuild_request,
)
from medsys.pairs.hands import Report

REBUILD_BOOT_SECONDS = 120.0  # an initialised MariaDB answers in seconds; slack for a busy host


class LocalHands:
    fence_is_certain = True

    def __init__(self, control: ProcessControl, adapter: NodeAdapter) -> None:
        self.control = control
        self.adapter = adapter
        self._rejoiner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rejoin")
        self._rejoining: Future[None] | None = None

    def fence(self, node: str, reason: str) -> str:
        was_running = self.control.is_process_running(node)
        if was_running:
            self.control.kill(node)
        # PostgreSQL's backends leave the postmaster's group: none may go on committing.
        stragglers = kill_processes_using(self.adapter.data_dir(node))
        if was_running or stragglers:
            return f"{node} fenced (killed: {reason})"
        return f"{node} already down"

    def rejoin(self, node: str, primary: str, report: Report) -> str:
        return self._beside_the_loop(self._rejoin, node, primary, report, "rejoining", "to")

    def _beside_the_loop(
        self,
        work: Callable[[str, str, Report], None],
        node: str,
        primary: str,
        report: Report,
        doing: str,
        preposition: str,
    ) -> str:
        """One rejoin or rebuild at a time, in its own thread: it may take minutes."""
        if self._rejoining is not None and not self._rejoining.done():
            return f"{node} is still being rejoined"
        self._rejoining = self._rejoiner.submit(work, node, primary, report)
        return f"{doing} {node} {preposition} {primary} beside the probe loop"

    def _rejoin(self, node: str, primary: str, report: Report) -> None:
        try:
            outcome = self.adapter.rejoin(node, primary, self.control)
        except Exception as error:  # reported like any failed action, never fatal
            outcome = f"Rejoin failed: {one_line(error)}"
        report(outcome)

    def failed_to_start(self, node: str) -> bool:
        return self.control.failed_to_start(node)

    def rebuild(self, node: str, primary: str, report: Report) -> str:
        return self._beside_the_loop(self._rebuild, node, primary, report, "rebuilding", "from")

    def _rebuild(self, node: str, primary: str, report: Report) -> None:
        """The node's entry makes the data anew at its next boot: it runs as root, as
        `medsys up` did when it made the node, and this monitor does not. Then, where the
        engine attaches a replica once it answers (MariaDB, MySQL), a copy of the primary
        is loaded into it here, as `up` does for a new replica."""
        try:
            rebuild_request(self.adapter.settings, node).write_text(f"{primary}\n")
            self.control.start(node)
            if self.adapter.ATTACHES_AFTER_BOOT:
                deadline = time.monotonic() + REBUILD_BOOT_SECONDS
                while not self.adapter.ping(node):
                    if time.monotonic() > deadline:
                        raise NodeError(f"{node}, made anew, does not answer")
                    time.sleep(0.2)
                self.adapter.attach_replica(node, primary)
            outcome = f"{node} made anew from {primary}: its own data could not start"
        except Exception as error:  # reported like any failed action, never fatal
            outcome = f"Rebuild of {node} failed: {one_line(error)}"
        report(outcome)
