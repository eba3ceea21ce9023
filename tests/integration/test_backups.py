"""The restore drill on the admin pair: patients registered through the admin API, the
moment noted, more registered, a table dropped by mistake; restored to the noted moment
into a folder of its own, the admin application finds exactly the patients registered
before it, and the dropped table is back. The running pair is never touched."""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from medsys.admin.app import create_app as create_admin
from medsys.core.databases import pair_database
from medsys.core.db import Node, ReplicatedDatabase, postgres_url
from medsys.core.tokens import Role
from medsys.nodes import pgbackrest
from tests.conftest import MedsysCluster, eventually
from tests.integration.test_admin import Admin
from tests.integration.test_binlog_backups import restore_to

pytestmark = pytest.mark.integration


def _archived_past_now(cluster: MedsysCluster) -> None:
    """Close the current WAL segment and wait until the repository holds it: what a
    restore can reach is what was archived."""
    admin = pair_database(cluster.settings, "admin", admin=True)
    try:
        closed = admin.write(
            lambda s: s.execute(text("SELECT pg_walfile_name(pg_switch_wal())")).scalar_one()
        )

        def archived() -> bool:
            last = admin.read(
                lambda s: s.execute(text("SELECT last_archived_wal FROM pg_stat_archiver"))
            ).scalar_one()
            return last is not None and str(last)[8:] >= str(closed)[8:]

        eventually(archived, within=60, what=f"WAL segment {closed} archived")
    finally:
        admin.dispose()


def _restored_url(cluster: MedsysCluster, port: int, user: str, who: str) -> str:
    secrets = cluster.secrets
    password = secrets.owner_password("admin") if who == "owner" else secrets.app_password("admin")
    return postgres_url(user=user, password=password, port=port, database="app2", host="127.0.0.1")


def admin_drill(cluster: MedsysCluster, api: Admin) -> tuple[list[str], list[str], datetime]:
    """Patients registered, the moment noted, more registered, a table dropped by mistake,
    all archived. Returns the RUTs registered before and after the moment, and it."""
    eventually(
        lambda: pgbackrest.catalogue(cluster.settings).last is not None,
        within=120,
        what="the scheduler's first backup",
    )
    owner = cluster.database("admin")
    owner.write(lambda s: s.execute(text("CREATE TABLE drill_notes (id INT, note TEXT)")))
    owner.write(lambda s: s.execute(text("INSERT INTO drill_notes VALUES (1, 'antes')")))
    before = [api.new_patient() for _ in range(3)]
    time.sleep(1.0)
    noted = datetime.now(UTC)
    time.sleep(1.0)
    after = [api.new_patient() for _ in range(2)]
    owner.write(lambda s: s.execute(text("INSERT INTO drill_notes VALUES (2, 'despues')")))
    owner.write(lambda s: s.execute(text("DROP TABLE drill_notes")))  # the mistake
    owner.dispose()
    _archived_past_now(cluster)
    return before, after, noted


def test_a_restore_to_a_noted_moment_brings_back_exactly_what_was_there(
    cluster: MedsysCluster,
) -> None:
    api = Admin(cluster)
    before, after, noted = admin_drill(cluster, api)

    folder = Path(tempfile.mkdtemp(prefix="medsys-restore-", dir="/var/tmp")) / "admin"
    folder.parent.chmod(0o755)
    port = cluster.settings.port_offset + 5440
    try:
        restore_to(cluster, "admin", noted, folder, port)
        restored = ReplicatedDatabase(
            [Node("restored", _restored_url(cluster, port, "app2", "application"))],
            failover_deadline=5,
        )
        clerk = {"Authorization": f"Bearer {cluster.token(Role.CLERK, 'adm.vera')}"}
        with TestClient(create_admin(cluster.settings, "restored", database=restored)) as app:
            for rut in before:
                found = app.get(f"/patients/{rut}", headers=clerk)
                assert found.status_code == 200, (rut, found.text)
            for rut in after:
                assert app.get(f"/patients/{rut}", headers=clerk).status_code == 404, rut
        restored.dispose()
        as_owner = ReplicatedDatabase(
            [Node("restored", _restored_url(cluster, port, "app2_owner", "owner"))],
            failover_deadline=5,
        )
        notes = as_owner.read(
            lambda s: s.execute(text("SELECT id, note FROM drill_notes ORDER BY id")).all()
        )
        as_owner.dispose()
        assert [tuple(row) for row in notes] == [(1, "antes")]
        # The running pair still has everything, the mistake included.
        for rut in before + after:
            assert api.call("GET", f"/patients/{rut}", api.clerk).status_code == 200
    finally:
        cluster.medsys("restore", "admin", "--stop", str(folder), check=False)
        shutil.rmtree(folder.parent, ignore_errors=True)
