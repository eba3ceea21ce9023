"""Real systems for integration tests: each ``MedsysCluster`` is a full ``medsys up`` in its
own state folder on its own ports, driven through the real CLI."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pyotp
import pytest
from sqlalchemy import Engine, create_engine, text

from medsys.core.databases import pair_database
from medsys.core.db import ReplicatedDatabase, mariadb_url, postgres_url
from medsys.core.demo_logins import demo_password
from medsys.core.keys import operator_token
from medsys.core.rut import InvalidRutError, check_digit, normalize_rut
from medsys.core.secrets import Secrets, load_secrets
from medsys.core.settings import Settings, load_settings
from medsys.core.tokens import Actor, Role, Service, issuer_of
from medsys.core.topology import DEFAULT_PORTS, pair_named
from medsys.core.topology import Engine as DbEngine
from medsys.launcher.cluster import Cluster, ServiceStatus
from medsys.launcher.identity_cli import mint_token
from medsys.pairs.state import PairState, read_pair_state

T = TypeVar("T")
# Where the kernel picks outgoing connections' local ports: a test system's servers must
# listen below it, or a client connection may already hold one of their ports.
SHARED_OFFSET = 20000  # the shared system: ports 23002-28000
# Modules that start a system of their own (or, test_node_agents, database pairs of
# their own), with the seconds each took in CI (3 workers): each is a group of its own
# (xdist loadgroup) and may run on any worker. A system of its own takes its ports
# from its worker's band (BAND_OFFSETS): a worker runs one module at a time and pytest
# ends a module's fixtures before the next module's start, so a band holds one system at
# a time, and the bands never meet each other nor the shared system's ports. A new such
# module is added here.
OWN_SYSTEM_MODULES = {
    "test_failover.py": 135,
    "test_restore_as_pair.py": 115,
    "test_api_fuzz.py": 110,
    "test_lifecycle.py": 60,
    "test_clinical_browser.py": 50,
    "test_node_agents.py": 50,  # databases only, on 28306-30534 (offsets 25000/25100)
    "test_routing.py": 25,
    "test_launcher_bad_input.py": 6,
}
# One band per worker (MEDSYS_TEST_WORKERS at most this many): ports 13002-18000,
# 18002-23000, 8002-13000.
BAND_OFFSETS = (10000, 15000, 5000)
LOGS_KEPT = Path(__file__).resolve().parents[1] / "artifacts" / "test-logs"
PORT_SPAN = (min(DEFAULT_PORTS.values()), max(DEFAULT_PORTS.values()))
EPHEMERAL_LOW = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def eventually(check: Callable[[], T], *, within: float = 20.0, what: str = "condition") -> T:
    """Poll until ``check`` returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + within
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as error:  # the system is mid-change; look again
            last_error = error
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {within} s (last error: {last_error})")


class MedsysCluster:
    def __init__(self, port_offset: int, *, name: str, measurement: bool = False) -> None:
        """``name``: whose system it is, naming the folder its logs are kept in.
        ``measurement``: Prometheus and the probes too (medsys.sla); only the shared
        system runs them, two cores cannot spare them for every system."""
        self.name = name
        lowest, highest = (bound + port_offset for bound in PORT_SPAN)
        assert highest < EPHEMERAL_LOW, (
            f"offset {port_offset} puts ports up to {highest} in the kernel's range for "
            f"outgoing connections (from {EPHEMERAL_LOW}): one may be taken at random"
        )
        shared_low, shared_high = (bound + SHARED_OFFSET for bound in PORT_SPAN)
        assert port_offset == SHARED_OFFSET or highest < shared_low or lowest > shared_high, (
            f"offset {port_offset} puts ports {lowest}-{highest} among the shared system's "
            f"({shared_low}-{shared_high}), which runs beside it"
        )
        folder = tempfile.mkdtemp(prefix="medsys-test-", dir="/var/tmp")
        Path(folder).chmod(0o755)  # the database user must reach it
        self.state_dir = Path(folder) / "var"
        self.environ = {
            **os.environ,
            "MEDSYS_STATE_DIR": str(self.state_dir),
            "MEDSYS_PORT_OFFSET": str(port_offset),
            "MEDSYS_CONFIG": "",
            "MEDSYS_MEASUREMENT": "on" if measurement else "off",
            # Replicas serve the audited reads in every test system, though they share one
            # machine, so failovers and rejoins are tested with that path in use.
            "MEDSYS_REPLICA_WAIT_MS": "50",
            # argon2-cffi's cheapest profile: hundreds of logins at ~0.2 s of CPU each
            # would be a sixth of the suite's CPU (tests/unit/test_passwords.py checks the
            # standard profile).
            "MEDSYS_PASSWORD_HASHING": "cheapest-for-tests",
        }
        self.settings: Settings = load_settings(self.environ)

    def medsys(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "medsys.cli", *args],
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        if check and result.returncode != 0:
            command = " ".join(args)
            raise AssertionError(
                f"medsys {command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def new_staff(self, role: Role, name: str, prefix: str = "t") -> tuple[str, str]:
        """A staff account of the test's own, as `medsys user add` makes it: (username,
        first password). Doctors and nurses get a random RUT."""
        username = f"{prefix}.{uuid.uuid4().hex[:8]}"
        extra: list[str] = []
        if role in (Role.DOCTOR, Role.NURSE):
            body = uuid.uuid4().int % 9_000_000 + 5_000_000
            extra = ["--rut", f"{body}-{check_digit(body)}"]
        made = self.medsys("user", "add", username, "--role", role.value, "--name", name, *extra)
        return username, made.stdout.strip().rsplit("password ", 1)[1]

    def new_patient_account(
        self, password: str, totp_secret: str | None = None, *, rut: str | None = None
    ) -> str:
        """A portal account of the test's own (no demo patient's, whose lockouts and
        passwords other tests change), for ``rut`` or a new RUT: its RUT."""
        from medsys.core.passwords import hash_password
        from medsys.portal.models import Account

        if rut is None:
            body = uuid.uuid4().int % 20_000_000 + 30_000_000
            rut = f"{body}-{check_digit(body)}"
        account = Account(
            rut=rut,
            name="Paciente Prueba",
            password_hash=hash_password(password),
            totp_secret=totp_secret,
            totp_enabled=totp_secret is not None,
        )
        database = self.database("portal")
        try:
            database.write(lambda s: s.add(account))
        finally:
            database.dispose()
        return rut

    def up(self) -> str:
        return self.medsys("up").stdout

    def kill(self, *names: str) -> None:
        self.medsys("kill", *names)

    def start(self, *names: str) -> None:
        self.medsys("start", *names)

    def stop(self, *names: str) -> None:
        self.medsys("stop", *names)

    def status(self) -> dict[str, ServiceStatus]:
        return {row.service.name: row for row in Cluster(self.settings).status()}

    def state(self, pair_name: str) -> PairState | None:
        return read_pair_state(self.settings, pair_named(pair_name))

    def in_sync(self, pair_name: str) -> bool:
        """The monitor has recorded the pair's replica in sync (semi-sync acknowledging)."""
        state = self.state(pair_name)
        return state is not None and state.replica_in_sync

    def roles(self, pair_name: str) -> tuple[str, str]:
        """(primary, replica) as the pair state records them now (failovers move them)."""
        pair = pair_named(pair_name)
        state = self.state(pair_name)
        primary = state.primary if state else pair.initial_primary
        return primary, pair.other(primary)

    @property
    def secrets(self) -> Secrets:
        return load_secrets(self.settings)

    def password(self, account: str) -> str:
        """A demo account's own password, as `medsys up` prints it (a RUT in any spelling)."""
        with contextlib.suppress(InvalidRutError):  # else a staff username
            account = normalize_rut(account)
        return demo_password(self.secrets.demo_seed, account)

    def token(
        self, role: Role, subject: str | None = None, *, audience: Service | None = None
    ) -> str:
        """A token as `medsys token` makes it: signed by the issuer that owns ``role``."""
        return mint_token(
            self.settings, role, subject, audience=audience, minutes=15, acting_for=None
        )

    def relayed(self, audience: Service, role: Role, subject: str) -> str:
        """What the middleware sends an app when it acts for a person."""
        person = Actor(subject, role, issuer_of(role))
        return operator_token(
            self.settings, Role.SERVICE, "middleware", audience=audience, acting_for=person
        )

    def database(self, pair_name: str) -> ReplicatedDatabase:
        """The pair through the application's router, as the schema's owner (tests make
        scratch tables, which the application's own user may not)."""
        return pair_database(self.settings, pair_name, owner=True, failover_deadline=30)

    def rows_of(self, pair_name: str, sql: str, **params: object) -> list[tuple[object, ...]]:
        """The rows one query reads on the pair's primary (as the schema's owner)."""
        database = self.database(pair_name)
        try:
            return database.read(lambda s: [tuple(row) for row in s.execute(text(sql), params)])
        finally:
            database.dispose()

    def application_database(self, pair_name: str) -> ReplicatedDatabase:
        """The pair exactly as an application opens it: its own user and rights."""
        return pair_database(self.settings, pair_name, failover_deadline=30)

    def node_engine(self, node: str, database: str | None = None) -> Engine:
        """A direct administrative connection to one node, whatever its role."""
        pair = next(
            p for p in (pair_named(n) for n in ("clinical", "admin", "portal")) if node in p.nodes
        )
        url = self._url(
            pair.engine,
            node,
            "medsys_admin",
            self.secrets.admin_password,
            database or pair.database,
        )
        return create_engine(url, pool_pre_ping=True, isolation_level="AUTOCOMMIT")

    def _url(self, engine: DbEngine, node: str, user: str, password: str, database: str):  # type: ignore[no-untyped-def]
        port = self.settings.port(node)
        if engine is DbEngine.POSTGRES:
            return postgres_url(user=user, password=password, port=port, database=database)
        return mariadb_url(user=user, password=password, port=port, database=database)

    def destroy(self) -> None:
        self.medsys("down", check=False)
        # Every service's log outlives the system, for whoever reads a failure later: one
        # folder per module, as the next module's system on this port band would
        # otherwise replace the logs of the one that failed.
        kept = LOGS_KEPT / self.name
        shutil.rmtree(kept, ignore_errors=True)
        with contextlib.suppress(OSError):
            shutil.copytree(self.state_dir / "log", kept)
        self.medsys("down", "-v", check=False)
        shutil.rmtree(self.state_dir.parent, ignore_errors=True)


def own_system(module_file: str) -> MedsysCluster:
    """The system of a module that breaks its own, in this worker's band."""
    name = Path(module_file).name
    assert name in OWN_SYSTEM_MODULES, f"{name} starts a system of its own: list it"
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    assert worker < len(BAND_OFFSETS), (
        f"worker {worker}: there are port bands for {len(BAND_OFFSETS)} workers only"
    )
    return MedsysCluster(port_offset=BAND_OFFSETS[worker], name=name.removesuffix(".py"))


@contextlib.contextmanager
def own_system_for(module_file: str, *, up: bool = True) -> Iterator[MedsysCluster]:
    """A module's own system (``own_system``), brought up unless ``up`` is false, and
    destroyed at the end whatever happened: the body of every such module's fixture."""
    system = own_system(module_file)
    try:
        if up:
            system.up()
        yield system
    finally:
        system.destroy()


def pytest_itemcollected(item: pytest.Item) -> None:
    """Three workers (pytest-xdist, ``--dist loadgroup``; scripts/test): the shared system's
    tests are one group, so the shared system is started once; every module of a system
    of its own is a group (``OWN_SYSTEM_MODULES``), and so is every other module. (Marked
    as each test is collected: xdist reads the marks in its own
    ``pytest_collection_modifyitems``.)"""
    group = "shared-system" if "cluster" in getattr(item, "fixturenames", ()) else item.path.name
    item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest groups first (scripts/test turns xdist's own reordering, by number of
    tests, off): the shared system's, then the systems of their own from the slowest, then
    the rest. A slow module left to the end would keep one worker busy alone."""

    def cost(item: pytest.Item) -> int:
        if "cluster" in getattr(item, "fixturenames", ()):
            return 10_000
        return OWN_SYSTEM_MODULES.get(item.path.name, 0)

    items.sort(key=cost, reverse=True)  # stable: each module keeps its own order


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """The shared system ends with the last test that uses it, not with the session: its
    worker goes on to other groups, and an idle system with its measurement costs a fifth
    of a core. (Its tests are one group and run back to back; should one ever come after,
    pytest would start the system again.)"""
    yield
    uses = "cluster" in getattr(item, "fixturenames", ())
    next_uses = nextitem is not None and "cluster" in getattr(nextitem, "fixturenames", ())
    if uses and not next_uses:
        definitions = item._fixtureinfo.name2fixturedefs.get("cluster", ())  # type: ignore[attr-defined]
        for definition in definitions:
            definition.finish(item._request)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def cluster() -> Iterator[MedsysCluster]:
    """The shared running system; tests that break it for good use their own."""
    system = MedsysCluster(port_offset=SHARED_OFFSET, name="shared-system", measurement=True)
    try:
        system.up()
        yield system
    finally:
        system.destroy()


def scratch_table(db: ReplicatedDatabase) -> str:
    """A fresh table for one test's rows (created through the primary)."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    db.write(
        lambda s: s.execute(text(f"CREATE TABLE {name} (id INT PRIMARY KEY, note VARCHAR(40))"))
    )
    return name


def count_rows(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


_addresses = iter(range(10, 250))


def next_address() -> str:
    """A loopback address no other test in this run uses."""
    return f"127.0.0.{next(_addresses)}"


def client_from(address: str, **options: object) -> httpx.Client:
    """An HTTP client whose requests come from ``address`` (any 127.0.0.0/8 address is
    this machine): login lockout counts per address, so each lockout test has its own."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(transport=transport, timeout=30, **options)  # type: ignore[arg-type]


def enrolled_with_second_factor(base_url: str, username: str, password: str) -> pyotp.TOTP:
    """Log in over JSON, enrol a TOTP second factor and confirm it; the account's TOTP
    (the confirming code is spent: the next login needs a later one)."""
    token = httpx.post(
        f"{base_url}/auth/login", json={"username": username, "password": password}
    ).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    secret = httpx.post(
        f"{base_url}/auth/second-factor", json={"password": password}, headers=bearer
    ).json()["secret"]
    totp = pyotp.TOTP(secret)
    confirmed = httpx.post(
        f"{base_url}/auth/second-factor/confirm", json={"code": totp.now()}, headers=bearer
    )
    assert confirmed.status_code == 200, confirmed.text
    return totp
