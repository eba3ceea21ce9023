"""The process of a pair's monitor: ``python -m medsys.launcher.monitor_process PAIR``.

Here, at the top, the monitor is handed its hands (``failover.monitor.serve``): the local
supervisord (``launcher.supervisor``), or with ``MEDSYS_NODE_CONTROL=agents`` the database
containers' agents (``nodes.remote``), so the failover package imports nothing above it.
``--check PAIR`` is the container's health check.
"""

from __future__ import annotations

import os
import sys

from medsys.core.logs import configure_logging, name_and_check
from medsys.core.secrets import load_secrets
from medsys.core.settings import load_settings
from medsys.core.topology import pair_named
from medsys.failover.monitor import is_healthy, serve
from medsys.launcher.supervisor import Supervisor
from medsys.nodes import adapter_for
from medsys.nodes.local import LocalHands
from medsys.nodes.remote import AgentControl, AgentHands
from medsys.pairs.hands import Hands


def main(argv: list[str]) -> int:
    configure_logging()
    parsed = name_and_check(argv, "usage: python -m medsys.launcher.monitor_process [--check] PAIR")
    if parsed is None:
        return 2
    pair_name, check = parsed
    settings = load_settings()
    pair = pair_named(pair_name)
    if check:
        return 0 if is_healthy(settings, pair) else 1
    adapter = adapter_for(pair, settings, load_secrets(settings))
    hands: Hands
    if os.environ.get("MEDSYS_NODE_CONTROL", "supervisor") == "agents":
        hands = AgentHands(AgentControl(settings))
    else:
        hands = LocalHands(Supervisor(settings), adapter)
    serve(settings, pair, adapter, hands)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
