"""What a database container's node agent does next: pure decisions, no I/O.

In containers there is no supervisord for the monitor to ask: each database container runs
an agent (``medsys.nodes.agent``) that boots its server in the role the pair state names,
watches the state while the server runs, and fences its own server when the state moves on
without it. These functions are the whole of its judgement, so they are unit-tested apart
from the processes and files they are applied to.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from medsys.pairs.node import Role
from medsys.pairs.state import PairState

# A kill request younger than this, for the recorded primary, means a failover is being
# written right now: wait for the new state instead of booting writable again.
FAILOVER_GRACE_SECONDS = 30.0


class BootStep(StrEnum):
    WAIT_FOR_FAILOVER = "wait-for-failover"
    INITIALISE = "initialise"  # empty volume: create the data (primary) or copy it (replica)
    REWIND = "rewind"  # PostgreSQL ex-primary: rewind onto the new primary first
    BOOT = "boot"


@dataclass(frozen=True)
class ControlRequest:
    """Written by the monitor (its ProcessControl in containers), read by the agent."""

    seq: int
    verb: str  # "kill": a fence; "restart": boot again in the role the state names
    reason: str
    at: float
    term: int


@dataclass(frozen=True)
class BootPlan:
    step: BootStep
    role: Role
    primary: str
    why: str


def role_of(node: str, state: PairState) -> Role:
    return Role.PRIMARY if state.primary == node else Role.REPLICA


def plan_boot(
    node: str,
    state: PairState,
    *,
    initialised: bool,
    last_ran_as_primary: bool,
    latest_request: ControlRequest | None,
    now: float,
) -> BootPlan:
    """The next step before the server may run.

    ``last_ran_as_primary`` is the data's own record (a PostgreSQL folder with no
    standby.signal); ``latest_request`` the monitor's newest request, handled or not: a
    fence is carried out before the monitor records the new primary, and that moment must
    not be mistaken for a state that still wants this node writable.
    """
    role = role_of(node, state)
    fence = latest_request
    if (
        fence is not None
        and fence.verb == "kill"
        and role is Role.PRIMARY
        and fence.term >= state.term
        and now - fence.at < FAILOVER_GRACE_SECONDS
    ):
        return BootPlan(
            BootStep.WAIT_FOR_FAILOVER,
            role,
            state.primary,
            f"fenced at term {fence.term} ({fence.reason}); waiting for the new state",
        )
    if not initialised:
        return BootPlan(BootStep.INITIALISE, role, state.primary, "no data yet")
    if role is Role.REPLICA and last_ran_as_primary:
        return BootPlan(
            BootStep.REWIND,
            role,
            state.primary,
            f"last ran as primary; {state.primary} is primary at term {state.term}",
        )
    return BootPlan(BootStep.BOOT, role, state.primary, f"term {state.term}")


class Verdict(StrEnum):
    KEEP_RUNNING = "keep-running"
    SELF_FENCE = "self-fence"  # SIGKILL: the state names another primary
    LEASE_LAPSED = "lease-lapsed"  # SIGKILL: no monitor renews the lease, no replica streams
    KILL = "kill"  # the monitor asked for a fence
    RESTART = "restart"  # the monitor asked for a reboot (to rejoin)
    SERVER_DIED = "server-died"


def watch(
    node: str,
    served_as_primary: bool,
    state: PairState | None,
    *,
    request: ControlRequest | None,
    handled_seq: int,
    server_alive: bool,
    isolated_past_lease: bool = False,
) -> Verdict:
    """Judged every fraction of a second while the server runs. ``served_as_primary``:
    the state named this node primary at some moment since its server booted (it booted
    so, or the monitor promoted it). ``isolated_past_lease``: it is the primary, its lease
    lapsed, no replica streams from it, and the state would let the replica be promoted."""
    if not server_alive:
        return Verdict.SERVER_DIED
    if served_as_primary and state is not None and state.primary != node:
        return Verdict.SELF_FENCE
    if isolated_past_lease:
        return Verdict.LEASE_LAPSED
    if request is not None and request.seq > handled_seq:
        return Verdict.KILL if request.verb == "kill" else Verdict.RESTART
    return Verdict.KEEP_RUNNING
