"""The container way of running a pair, on real servers, without a Docker engine.

In docker-compose each database node is a container running ``medsys.nodes.agent`` and the
monitor fences and rejoins through the agents (``MEDSYS_NODE_CONTROL=agents``). Here the
same agents and monitor run as plain processes sharing one state folder, as the containers
share the cluster-state volume; the test plays Docker's part: when an agent exits because
its server died, it starts the agent again (``restart: unless-stopped``), and it freezes a
node's agent and server together as ``docker pause`` would.

They run with the containers' network settings (``MEDSYS_NETWORK=compose``): every peer
is reached by its service name, servers listen on every interface, database users and
PostgreSQL's pg_hba admit the network rather than loopback. Each process gets its own
mount namespace in which /etc/hosts names every service (all on 127.0.0.1, told apart by
port), the way Docker's DNS names the containers; the machine's own /etc/hosts is
untouched. The test itself speaks to the nodes over loopback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, text

from medsys.core.databases import pair_database
from medsys.core.db import mariadb_url, postgres_url
from medsys.core.secrets import SECRET_ENVIRONMENT, ensure_secrets
from medsys.core.settings import load_settings
from medsys.core.topology import DEFAULT_PORTS, Pair, pair_named
from medsys.core.topology import Engine as DbEngine
from medsys.nodes import adapter_for
from medsys.nodes.remote import read_status, write_request
from medsys.pairs.state import read_pair_state
from tests.conftest import eventually

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "agent-logs"


class AgentPair:
    def __init__(self, pair: Pair, port_offset: int) -> None:
        folder = tempfile.mkdtemp(prefix="medsys-agents-", dir="/var/tmp")
        Path(folder).chmod(0o755)
        self.folder = Path(folder)
        self.pair = pair
        base = {
            **os.environ,
            "MEDSYS_STATE_DIR": str(self.folder / "var"),
            "MEDSYS_PORT_OFFSET": str(port_offset),
            "MEDSYS_CONFIG": "",
        }
        self.settings = load_settings(base)
        secrets = ensure_secrets(self.settings).as_dict()
        # The agents and the monitor take their secrets from the environment, as in
        # containers; the test itself reads the same ones from the file.
        self.environ = {
            **base,
            **{name: secrets[field] for field, name in SECRET_ENVIRONMENT.items()},
            "MEDSYS_NETWORK": "compose",
            "MEDSYS_NODE_CONTROL": "agents",
            "MEDSYS_ANTI_FLAP_WINDOW": "0",  # this test fails over twice in a minute
        }
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self.monitor: subprocess.Popen[bytes] | None = None
        self.hosts = self.folder / "hosts"
        self.hosts.write_text("127.0.0.1 localhost " + " ".join(DEFAULT_PORTS) + "\n")

    def _spawn(self, module: str, argument: str, log: str) -> subprocess.Popen[bytes]:
        with (self.folder / log).open("ab") as output:
            return subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "--",
                    "sh",
                    "-c",
                    'mount --bind "$0" /etc/hosts && exec "$@"',
                    str(self.hosts),
                    sys.executable,
                    "-m",
                    module,
                    argument,
                ],
                env=self.environ,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def start_agent(self, node: str) -> None:
        self.agents[node] = self._spawn("medsys.nodes.agent", node, f"{node}.log")

    def start_monitor(self) -> None:
        self.monitor = self._spawn("medsys.launcher.monitor_process", self.pair.name, "monitor.log")

    def healthy(self, node: str) -> bool:
        result = subprocess.run(
            [sys.executable, "-m", "medsys.nodes.agent", "--check", node],
            env=self.environ,
            check=False,
        )
        return result.returncode == 0

    def status(self, node: str) -> dict[str, object]:
        return read_status(self.settings, node) or {}

    def wait_healthy(self, node: str, *, within: float) -> None:
        """Docker's part while the pair boots: an agent that exits is started again
        (``restart: unless-stopped``). A node not healthy in time fails with what its
        agent and the monitor said, so a failure on CI can be read from the output."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.healthy(node):
                return
            if self.agents[node].poll() is not None:
                self.start_agent(node)
            time.sleep(0.2)
        raise AssertionError(
            f"{node} not healthy within {within:.0f} s; its status: {self.status(node)}\n"
            f"--- {node}'s agent, last lines:\n{self.tail(node)}\n"
            f"--- the monitor, last lines:\n{self.tail('monitor')}"
        )

    def tail(self, name: str, lines: int = 30) -> str:
        """The agent's and medsys's own lines and the server's errors, not its notes."""
        said = [
            line
            for line in self.log(name).splitlines()
            if "medsys." in line or "[ERROR]" in line or "Traceback" in line
        ]
        return "\n".join(said[-lines:])

    def wait_in_sync(self) -> None:
        """The monitor promotes only a replica it last saw in sync: wait for that view."""

        def in_sync() -> bool:
            state = read_pair_state(self.settings, self.pair)
            return state is not None and state.replica_in_sync

        eventually(in_sync, within=30, what="the monitor seeing the replica in sync")

    def primary(self) -> str:
        state = read_pair_state(self.settings, self.pair)
        assert state is not None
        return state.primary

    def server_processes(self, node: str) -> list[psutil.Process]:
        agent = psutil.Process(self.agents[node].pid)
        return agent.children(recursive=True)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def writable_nodes(self) -> list[str]:
        adapter = adapter_for(self.pair, self.settings, ensure_secrets(self.settings))
        return [node for node in self.pair.nodes if adapter.probe(node).writable]

    def destroy(self) -> None:
        for process in [*self.agents.values(), self.monitor]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.agents.values(), self.monitor]:
            if process is not None:
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
        kept = ARTIFACTS / self.pair.name
        shutil.rmtree(kept, ignore_errors=True)
        kept.mkdir(parents=True)
        for log in self.folder.glob("*.log"):
            shutil.copy(log, kept / log.name)  # for whoever reads a failure
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module", params=["clinical", "admin"])
def agent_pair(request: pytest.FixtureRequest) -> Iterator[AgentPair]:
    offset = {"clinical": 25000, "admin": 25100}[request.param]
    lab = AgentPair(pair_named(request.param), offset)
    try:
        for node in lab.pair.nodes:
            lab.start_agent(node)
        lab.start_monitor()
        for node in lab.pair.nodes:
            lab.wait_healthy(node, within=90)
        lab.wait_in_sync()
        yield lab
    finally:
        lab.destroy()


def _insert(lab: AgentPair, table: str, first: int, count: int) -> None:
    database = pair_database(lab.settings, lab.pair.name, owner=True, failover_deadline=30)
    try:
        for key in range(first, first + count):
            database.write(
                lambda s, k=key: s.execute(text(f"INSERT INTO {table} VALUES ({k}, 'nota')"))
            )
    finally:
        database.dispose()


def _count(lab: AgentPair, node: str, table: str) -> int:
    """Rows on one node, whatever its role."""
    secrets = ensure_secrets(lab.settings)
    make_url = postgres_url if lab.pair.engine is DbEngine.POSTGRES else mariadb_url
    engine = create_engine(
        make_url(
            user="medsys_admin",
            password=secrets.admin_password,
            port=lab.settings.port(node),
            database=lab.pair.database,
        )
    )
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def test_agents_boot_the_pair_with_the_recorded_primary_writable(agent_pair: AgentPair) -> None:
    lab = agent_pair
    primary = lab.primary()
    replica = lab.pair.other(primary)
    assert lab.writable_nodes() == [primary]
    assert lab.status(replica)["following"] == primary
    state = read_pair_state(lab.settings, lab.pair)
    assert state is not None and state.bootstrapped


def test_a_crashed_primary_fails_over_and_comes_back_as_replica(agent_pair: AgentPair) -> None:
    lab = agent_pair
    database = pair_database(lab.settings, lab.pair.name, owner=True, failover_deadline=30)
    table = f"crash_{int(time.time())}"
    database.write(
        lambda s: s.execute(text(f"CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(20))"))
    )
    database.dispose()
    _insert(lab, table, 0, 50)
    lab.wait_in_sync()
    old = lab.primary()
    new = lab.pair.other(old)

    for process in lab.server_processes(old):
        process.kill()  # the server crashes; its agent exits so Docker restarts it
    assert lab.agents[old].wait(timeout=30) == 1
    assert "the server exited on its own" in lab.log(old)

    eventually(lambda: lab.primary() == new, within=20, what=f"{new} recorded as primary")
    lab.start_agent(old)  # restart: unless-stopped
    eventually(
        lambda: lab.status(old).get("following") == new, within=90, what=f"{old} follows {new}"
    )
    _insert(lab, table, 50, 10)
    assert lab.writable_nodes() == [new]
    eventually(lambda: _count(lab, old, table) == 60, within=20, what="rows replicated back")
    assert _count(lab, new, table) == 60  # nothing acknowledged was lost


def test_a_frozen_primary_fences_itself_when_it_thaws(agent_pair: AgentPair) -> None:
    lab = agent_pair
    lab.wait_in_sync()
    old = lab.primary()
    new = lab.pair.other(old)
    frozen = [psutil.Process(lab.agents[old].pid), *lab.server_processes(old)]
    for process in frozen:
        process.suspend()  # docker pause: the agent freezes with its server
    try:
        eventually(lambda: lab.primary() == new, within=20, what=f"{new} promoted")
    finally:
        for process in frozen:
            # A frozen server may be killed on request meanwhile (SIGKILL ends a stopped
            # process), which is one of the two outcomes asserted below.
            with contextlib.suppress(psutil.NoSuchProcess):
                process.resume()
    eventually(
        lambda: lab.status(old).get("following") == new,
        within=90,
        what=f"thawed {old} back as a replica of {new}",
    )
    log = lab.log(old)
    assert "fenced itself" in log or "killed on request" in log
    assert lab.writable_nodes() == [new]


def test_a_primary_cut_off_from_monitor_and_replica_fences_itself_at_lease_end(
    agent_pair: AgentPair,
) -> None:
    """The monitor and the replica freeze together (the primary's side of a partition):
    no one renews the primary's lease and nothing streams from it, so its agent stops it
    before the monitor, once back, may promote the replica; exactly one primary after."""
    lab = agent_pair
    lab.wait_in_sync()
    old = lab.primary()
    replica = lab.pair.other(old)
    assert lab.monitor is not None
    frozen = [
        psutil.Process(lab.monitor.pid),
        *psutil.Process(lab.monitor.pid).children(recursive=True),
        psutil.Process(lab.agents[replica].pid),
        *lab.server_processes(replica),
    ]
    for process in frozen:
        process.suspend()
    try:
        eventually(
            lambda: "its lease ran out" in lab.log(old),
            within=20,
            what=f"{old} fenced at the end of its lease",
        )
    finally:
        for process in frozen:
            process.resume()
    primary = lab.primary()
    eventually(
        lambda: (
            lab.writable_nodes() == [lab.primary()]
            and lab.status(lab.pair.other(lab.primary())).get("following") == lab.primary()
        ),
        within=120,
        what="one primary, the other node following it",
    )
    assert lab.primary() in (primary, replica)
    lab.wait_in_sync()


@pytest.mark.parametrize("agent_pair", ["clinical"], indirect=True)
def test_a_diverged_replica_is_rebuilt_by_its_agent(agent_pair: AgentPair) -> None:
    """A replica that committed what its primary never had (a write by hand while its
    replication was stopped) cannot follow again: asked to rejoin, its agent rebuilds it
    from the primary, keeping the diverged data aside. In containers only the agent can:
    the data is in its container, not the monitor's."""
    lab = agent_pair
    primary = lab.primary()
    replica = lab.pair.other(primary)
    adapter = adapter_for(lab.pair, lab.settings, ensure_secrets(lab.settings))
    errant = f"errant_{int(time.time())}"
    adapter._admin(  # type: ignore[attr-defined]
        replica,
        "STOP SLAVE",
        f"CREATE TABLE {lab.pair.database}.{errant} (id INT PRIMARY KEY)",
        f"INSERT INTO {lab.pair.database}.{errant} VALUES (1)",
    )
    table = f"after_{int(time.time())}"
    database = pair_database(lab.settings, lab.pair.name, owner=True, failover_deadline=30)
    try:
        database.write(lambda s: s.execute(text(f"CREATE TABLE {table} (id INT PRIMARY KEY)")))
    finally:
        database.dispose()

    # Retention has purged the history: replaying it from the start cannot work, only a copy.
    def binary_logs() -> set[str]:
        rows = adapter._admin(primary, "SHOW BINARY LOGS")  # type: ignore[attr-defined]
        return {row["Log_name"] for row in rows}

    history = binary_logs()
    current = adapter._admin(  # type: ignore[attr-defined]
        primary, "FLUSH BINARY LOGS", "SHOW MASTER STATUS"
    )[0]["File"]

    def purged() -> bool:
        # A log stays until its binlog checkpoint is written to the next one: try again.
        adapter._admin(primary, f"PURGE BINARY LOGS TO '{current}'")  # type: ignore[attr-defined]
        return not history & binary_logs()

    eventually(purged, within=20, what="every binary log written before purged")

    write_request(lab.settings, replica, "restart", "rejoin after a manual write")
    eventually(
        lambda: "had diverged" in lab.log(replica) and lab.status(replica).get("following"),
        within=120,
        what=f"{replica} rebuilt and following {primary}",
    )
    assert lab.status(replica)["following"] == primary
    kept = list(lab.settings.data_dir.glob(f"{replica}.diverged-*"))
    assert kept, "the diverged data is kept aside, never deleted"
    eventually(lambda: _count(lab, replica, table) == 0, what="the primary's table copied")
    database = pair_database(lab.settings, lab.pair.name, owner=True, failover_deadline=30)
    try:
        database.write(lambda s: s.execute(text(f"INSERT INTO {table} VALUES (7)")))
    finally:
        database.dispose()
    eventually(lambda: _count(lab, replica, table) == 1, what="replication on from the copy")
    assert lab.writable_nodes() == [primary]
