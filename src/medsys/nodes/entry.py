"""The process supervisord runs for a database node: ``python -m medsys.nodes.entry NODE``.

It reads the pair's persisted state and boots the node as primary only if the state names
it; otherwise read-only / as a standby. This is the first fence against split brain: a
crashed primary that supervisord or an operator restarts after a failover comes back
unable to take writes. Then it drops root and becomes the server (exec), so supervisord
signals the server itself.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from medsys.core.settings import load_settings
from medsys.core.topology import pair_of_node
from medsys.nodes import adapter_for
from medsys.nodes.base import (
    NodeAdapter,
    NodeError,
    move_aside,
    processes_using,
    rebuild_request,
    server_gid,
    service_user,
)
from medsys.nodes.plan import BootStep, plan_boot
from medsys.pairs.node import Role
from medsys.pairs.state import read_pair_state

LEFTOVER_WAIT_SECONDS = 20.0


def _wait_for_leftovers(datadir: Path) -> None:
    deadline = time.monotonic() + LEFTOVER_WAIT_SECONDS
    while (pids := [p.pid for p in processes_using(datadir)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pids:
        print(f"processes {pids} still use {datadir}; starting anyway", file=sys.stderr)


def _copy_anew(adapter: NodeAdapter, node: str, primary: str) -> str:
    """What a monitor asked for when this node's data could not start: that data set
    aside (never deleted) and the node made again as a replica, as `medsys up` makes one."""
    data = adapter.data_dir(node)
    kept = move_aside(data) if data.exists() else None
    adapter.initialise(node, Role.REPLICA)
    where = f"; its old data is in {kept}" if kept else ""
    return f"{node} made anew as a replica of {primary}{where}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m medsys.nodes.entry NODE", file=sys.stderr)
        return 2
    node = argv[1]
    settings = load_settings()
    pair = pair_of_node(node)
    state = read_pair_state(settings, pair)
    if state is None:
        print(f"{pair.name} has no recorded state; run `medsys up`", file=sys.stderr)
        return 3
    adapter = adapter_for(pair, settings)
    _wait_for_leftovers(adapter.data_dir(node))
    # The same judgement as a container's agent (plan_boot); here the monitor asks
    # supervisord, not this process, for fences, so there is no request to weigh.
    plan = plan_boot(
        node,
        state,
        initialised=adapter.is_initialised(node),
        last_ran_as_primary=adapter.last_ran_as_primary(node),
        latest_request=None,
        now=time.time(),
    )
    request = rebuild_request(settings, node)
    if request.exists() and plan.role is Role.PRIMARY:
        request.unlink()  # asked of it as a replica; as the primary its data is the pair's
    if request.exists():
        try:
            print(_copy_anew(adapter, node, plan.primary), flush=True)
        except NodeError as error:
            print(f"{node} could not be made anew: {error}", file=sys.stderr)
            return 4
        request.unlink()
        plan = replace(plan, step=BootStep.BOOT)
    if plan.step is BootStep.INITIALISE:
        print(f"{node} has no data yet; `medsys up` makes it", file=sys.stderr)
        return 3
    if plan.step is BootStep.REWIND:
        # Its timeline may have forked from the new primary's: rewind before booting.
        try:
            print(adapter.rewind_or_rebuild(node, plan.primary), flush=True)
        except NodeError as error:
            print(
                f"{node} last ran as a primary and cannot rejoin {plan.primary} now "
                f"({error}); start {plan.primary} first, then {node}",
                file=sys.stderr,
            )
            return 4
    role = plan.role
    server_argv = adapter.boot_argv(node, role, synchronous=state.replica_in_sync)
    print(
        f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} medsys: booting {node} as {role} "
        f"(term {state.term}, recorded primary {state.primary})",
        flush=True,
    )
    if os.geteuid() == 0:
        user = service_user(settings)
        os.setgroups([])
        os.setgid(server_gid(settings))
        os.setuid(user.uid)
        os.environ["HOME"] = str(settings.state_dir)
        os.environ["USER"] = user.name
    os.chdir(adapter.data_dir(node))
    os.execv(server_argv[0], server_argv)  # noqa: S606 - becoming the server is the point


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
