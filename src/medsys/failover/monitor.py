"""A pair's monitor: ``python -m medsys.failover.monitor PAIR``, run by supervisord.

Each cycle: probe both nodes (fresh connections), ``decide``, apply the actions, and log
one timestamped sentence whenever something changed.
"""

from __future__ import annotations

import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from medsys.core.secrets import load_secrets
from medsys.core.settings import Settings, load_settings
from medsys.core.topology import Engine, Pair, pair_named
from medsys.failover.decision import Decision, Memory, Observation, SetSynchronous, decide
from medsys.failover.state import read_pair_state
from medsys.nodes import adapter_for
from medsys.nodes.base import NodeProbe

PROBE_INTERVAL = 1.0
log = logging.getLogger("medsys.monitor")


class Monitor:
    def __init__(self, settings: Settings, pair: Pair) -> None:
        self.settings = settings
        self.pair = pair
        self.adapter = adapter_for(pair)
        self.secrets = load_secrets(settings)
        self.memory = Memory()
        self._pool = ThreadPoolExecutor(max_workers=2)

    def observe(self) -> Observation:
        state = read_pair_state(self.settings, self.pair)
        primary = state.primary if state else self.pair.initial_primary
        replica = self.pair.other(primary)
        futures = [
            self._pool.submit(self.adapter.probe, self.settings, self.secrets, node)
            for node in (primary, replica)
        ]
        probes: list[NodeProbe] = [future.result() for future in futures]
        return Observation(primary=probes[0], replica=probes[1])

    def cycle(self) -> Decision:
        seen = self.observe()
        before = self.memory
        decision = decide(before, seen, relax_when_alone=self.pair.engine is Engine.POSTGRES)
        for action in decision.actions:
            self.apply(action)
        self.memory = decision.memory
        if (
            decision.changed
            or decision.memory.health != before.health
            or (decision.memory.failed_primary_probes)
        ):
            log.info(decision.sentence)
        return decision

    def apply(self, action: SetSynchronous) -> None:
        self.adapter.set_synchronous(self.settings, self.secrets, action.node, action.on)

    def run_forever(self) -> None:
        log.info("monitor of the %s pair started", self.pair.name)
        while True:
            started = time.monotonic()
            try:
                self.cycle()
            except Exception:
                log.exception("monitor cycle failed; trying again")
            time.sleep(max(0.0, PROBE_INTERVAL - (time.monotonic() - started)))


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s.%(msecs)03dZ %(name)s[%(process)d] %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    logging.Formatter.converter = time.gmtime
    if len(argv) != 2:
        print("usage: python -m medsys.failover.monitor PAIR", file=sys.stderr)
        return 2
    Monitor(load_settings(), pair_named(argv[1])).run_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
