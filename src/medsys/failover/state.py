"""The persisted state of a pair: which node is primary and in which term.

Written atomically (write, fsync, rename) so a monitor or launcher that dies mid-write leaves
either the old state or the new one. Node boot reads it: only the recorded primary may boot
writable, which is what keeps a returning old primary from becoming a second writer.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from medsys.core.settings import Settings
from medsys.core.topology import Pair


class PairStateError(RuntimeError):
    pass


@dataclass(frozen=True)
class PairState:
    pair: str
    primary: str
    term: int = 1
    bootstrapped: bool = False
    last_failover_at: float | None = None  # wall clock, for the anti-flapping window
    failover_acknowledged: bool = True

    def promoted(self, node: str, at: float) -> PairState:
        return replace(
            self,
            primary=node,
            term=self.term + 1,
            last_failover_at=at,
            failover_acknowledged=False,
        )


def state_path(settings: Settings, pair: Pair) -> Path:
    return settings.cluster_dir / f"{pair.name}.json"


def read_pair_state(settings: Settings, pair: Pair) -> PairState | None:
    path = state_path(settings, pair)
    if not path.exists():
        return None
    try:
        state = PairState(**json.loads(path.read_text()))
    except (ValueError, TypeError) as error:
        raise PairStateError(f"{path} is damaged ({error}); fix or restore it by hand") from None
    if state.primary not in pair.nodes:
        raise PairStateError(f"{path} names {state.primary!r}, not a node of {pair.name}")
    return state


def write_pair_state(settings: Settings, pair: Pair, state: PairState) -> None:
    path = state_path(settings, pair)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with temporary.open("w") as handle:
        json.dump(asdict(state), handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    path.chmod(0o644)
