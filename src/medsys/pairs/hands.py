"""The hands a monitor acts with, handed to it when its process starts.

A monitor decides (``failover.decision``) and speaks SQL to its nodes through the engine's
adapter, but stopping, fencing and rejoining a node's *process* depends on where the node
runs: under the local supervisord (``nodes.local.LocalHands``) or in a container whose agent
carries out requests (``nodes.remote.AgentHands``). Both answer this protocol, so the
monitor never asks which one it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Report = Callable[[str], None]


class Hands(Protocol):
    # True: a fence is a SIGKILL on this host, done when it returns; False: a request some
    # agent carries out when it can, so the primary's lease must back it up.
    fence_is_certain: bool

    def fence(self, node: str, reason: str) -> str:
        """Make sure ``node``'s server takes no more writes; returns what was done."""

    def rejoin(self, node: str, primary: str, report: Report) -> str:
        """Make ``node`` a replica of ``primary``. Returns what was done or started; work
        that goes on beside the monitor's loop calls ``report`` with its outcome."""

    def failed_to_start(self, node: str) -> bool:
        """``node``'s server was started and died while starting, again and again."""

    def rebuild(self, node: str, primary: str, report: Report) -> str:
        """Copy ``node`` anew from ``primary`` (its old data kept aside) and start it as a
        replica; like ``rejoin``, beside the monitor's loop."""
