"""What a careless operator meets: clear messages and exit codes, and no data deleted."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.conftest import MedsysCluster, own_system_for

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh() -> Iterator[MedsysCluster]:
    with own_system_for(__file__, up=False) as system:
        yield system


def test_unknown_service_name(fresh: MedsysCluster) -> None:
    result = fresh.medsys("kill", "mongodb", check=False)
    assert result.returncode == 2
    assert "unknown service 'mongodb'" in result.stderr and "mariadb-master" in result.stderr


def test_status_when_nothing_runs(fresh: MedsysCluster) -> None:
    result = fresh.medsys("status", check=False)
    assert result.returncode == 3 and "medsys up" in result.stdout


def test_taken_port_is_named_with_its_holder_and_nothing_is_started(fresh: MedsysCluster) -> None:
    port = fresh.settings.port("postgres_replica")
    with socket.socket() as squatter:
        # As any server would: a connection of an earlier system to this port, still in
        # TIME_WAIT, must not keep the squatter from listening.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = fresh.medsys("up", check=False)
    assert result.returncode == 6
    assert f"port {port} for postgres_replica is already taken by pid" in result.stderr
    assert not (fresh.state_dir / "data").exists()


def test_damaged_pair_state_is_reported_and_left_alone(fresh: MedsysCluster) -> None:
    state = fresh.state_dir / "cluster" / "admin.json"
    state.parent.mkdir(parents=True)
    state.write_text("{not json")
    result = fresh.medsys("up", check=False)
    assert result.returncode == 5 and "admin.json is damaged" in result.stderr
    assert state.read_text() == "{not json"


def test_half_initialised_node_is_refused_and_kept(fresh: MedsysCluster) -> None:
    leftover = fresh.state_dir / "data" / "mysql_replica" / "ibdata1"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("partial")
    result = fresh.medsys("up", check=False)
    assert result.returncode == 5 and "never finished initialising" in result.stderr
    assert leftover.read_text() == "partial"


def test_data_without_pair_state_is_refused(fresh: MedsysCluster) -> None:
    marker = fresh.state_dir / "data" / "postgres_primary" / ".medsys-initialised"
    marker.parent.mkdir(parents=True)
    marker.write_text("postgres_primary\n")
    result = fresh.medsys("up", check=False)
    assert result.returncode == 5 and "cannot know which node is primary" in result.stderr
    assert marker.exists()


def test_token_before_up_says_what_to_do(fresh: MedsysCluster) -> None:
    result = fresh.medsys("token", "doctor", check=False)
    assert result.returncode == 3 and "medsys up" in result.stderr
    bad_role = fresh.medsys("token", "superuser", check=False)
    assert bad_role.returncode == 2
