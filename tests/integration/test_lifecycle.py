"""The launcher's life cycle on a system of its own: up twice, down, up, down -v."""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest
from sqlalchemy import text

from medsys.core.keys import keyring
from medsys.core.tokens import Role, Service, verify_token
from tests.conftest import MedsysCluster, count_rows, own_system_for, scratch_table

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def system() -> Iterator[MedsysCluster]:
    with own_system_for(__file__, up=False) as system:
        yield system


def _database_pids(system: MedsysCluster) -> dict[str, int | None]:
    return {
        name: row.pid
        for name, row in system.status().items()
        if row.service.kind.value == "database"
    }


def _processes_in(folder: str) -> list[int]:
    found = []
    for process in psutil.process_iter(["pid", "cwd", "cmdline"]):
        cwd = process.info.get("cwd") or ""
        cmdline = " ".join(process.info.get("cmdline") or [])
        if cwd.startswith(folder) or folder in cmdline:
            found.append(process.pid)
    return found


def test_up_down_up_keeps_data_and_down_v_leaves_nothing(system: MedsysCluster) -> None:
    first = system.up()
    assert "medsys is up in" in first and "mariadb-replica" in first
    db = system.database("admin")
    table = scratch_table(db)
    db.write(lambda s: s.execute(text(f"INSERT INTO {table} VALUES (1, 'kept')")))
    pids = _database_pids(system)

    second = system.up()  # idempotent: nothing restarted, nothing lost
    assert _database_pids(system) == pids
    assert "initialising" not in second

    system.medsys("down")
    assert all(row.state != "RUNNING" for row in system.status().values())
    system.up()
    db.forget_primary()
    assert count_rows(system.node_engine("postgres_primary"), table) == 1
    assert count_rows(system.node_engine("postgres_replica"), table) == 1
    db.dispose()

    token = system.medsys("token", "doctor", "--sub", "dr-soto").stdout.strip()
    trusted = keyring(system.settings, Service.CLINICAL)
    claims = verify_token(trusted, token, audience=Service.CLINICAL)
    assert (claims.subject, claims.role, claims.issuer) == (
        "dr-soto",
        Role.DOCTOR,
        Service.CLINICAL,
    )

    system.medsys("down", "-v")
    assert not system.state_dir.exists()
    assert _processes_in(str(system.state_dir)) == []
