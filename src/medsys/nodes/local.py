"""A monitor's hands on this host: the local supervisord's process control, a SIGKILL for a
fence, and a rejoin (which may rebuild a node from a copy: minutes on a big database) in a
thread of its own beside the monitor's probe loop."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from medsys.nodes.base import NodeAdapter, ProcessControl, kill_processes_using, one_line
from medsys.pairs.hands import Report


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
        return self._beside_the_loop(
            self._rejoin, node, primary, report, f"rejoining {node} to {primary}"
        )

    def _beside_the_loop(
        self,
        work: Callable[[str, str, Report], None],
        node: str,
        primary: str,
        report: Report,
        doing: str,
    ) -> str:
        """One rejoin or rebuild at a time, in its own thread: it may take minutes."""
        if self._rejoining is not None and not self._rejoining.done():
            return f"{node} is still being rejoined"
        self._rejoining = self._rejoiner.submit(work, node, primary, report)
        return f"{doing} beside the probe loop"

    def _rejoin(self, node: str, primary: str, report: Report) -> None:
        try:
            outcome = self.adapter.rejoin(node, primary, self.control)
        except Exception as error:  # reported like any failed action, never fatal
            outcome = f"Rejoin failed: {one_line(error)}"
        report(outcome)

    def failed_to_start(self, node: str) -> bool:
        return self.control.failed_to_start(node)

    def rebuild(self, node: str, primary: str, report: Report) -> str:
        return self._beside_the_loop(
            self._rebuild, node, primary, report, f"rebuilding {node} from {primary}"
        )

    def _rebuild(self, node: str, primary: str, report: Report) -> None:
        try:
            outcome = self.adapter.rebuild(
                node, primary, self.control, reason="its own data could not start"
            )
        except Exception as error:  # reported like any failed action, never fatal
            outcome = f"Rebuild of {node} failed: {one_line(error)}"
        report(outcome)
