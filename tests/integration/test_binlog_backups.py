"""The restore drill on the clinical and portal pairs (mariadb-backup and archived binary
logs): records written through the applications, the moment noted, more written, a table
dropped by mistake; restored to the noted moment into a folder of its own, the
application on the restored copy finds exactly what was written before it, and the
dropped table is back. The running pair is never touched."""

from __future__ import annotations

import random
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from medsys.backups import mariabackup
from medsys.clinical.app import create_app as create_clinical
from medsys.core.db import Node, ReplicatedDatabase, mariadb_url
from medsys.core.passwords import hash_password
from medsys.core.rut import check_digit
from medsys.core.tokens import Role, Service
from medsys.core.topology import pair_named
from medsys.portal.app import create_app as create_portal
from medsys.portal.models import Account
from tests.conftest import MedsysCluster, eventually
from tests.integration.test_clinical import Clinical

pytestmark = pytest.mark.integration


def _restored(cluster: MedsysCluster, pair: str, port: int, *, owner: bool) -> ReplicatedDatabase:
    topology = pair_named(pair)
    secrets = cluster.secrets
    user = topology.owner_user if owner else topology.app_user
    password = secrets.owner_password(pair) if owner else secrets.app_password(pair)
    url = mariadb_url(user=user, password=password, port=port, database=topology.database)
    return ReplicatedDatabase([Node("restored", url)], failover_deadline=5)


@pytest.fixture
def restore_folder() -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="medsys-restore-", dir="/var/tmp"))
    parent.chmod(0o755)
    yield parent / "copy"
    mariabackup.stop_restored(parent / "copy")
    shutil.rmtree(parent, ignore_errors=True)


def noted_moment() -> datetime:
    """A moment with whole seconds of quiet on either side: binary logs time
    transactions to the second."""
    time.sleep(1.5)
    noted = datetime.now(UTC)
    time.sleep(1.5)
    return noted


def restore_to(cluster: MedsysCluster, pair: str, moment: datetime, folder: Path, port: int) -> str:
    """`medsys restore` into ``folder`` on ``port``; what it said, once it said it
    reached the moment (no warning)."""
    said = cluster.medsys(
        "restore", pair, "--to", moment.isoformat(), "--into", str(folder), "--port", str(port)
    ).stdout
    assert f"served on 127.0.0.1:{port}" in said and "warning" not in said, said
    return said


def _drill(
    cluster: MedsysCluster,
    pair: str,
    folder: Path,
    write: Callable[[str], None],
) -> tuple[list[str], list[str], int]:
    """Write, note, write, make the mistake, archive, restore. Returns the labels written
    before and after the noted moment and the restored copy's port."""
    backups = mariabackup.PairBackups(cluster.settings, cluster.secrets, pair)
    eventually(
        lambda: backups.catalogue().last is not None,
        within=120,
        what=f"the scheduler's first copy of the {pair} pair",
    )
    owner = cluster.database(pair)
    owner.write(lambda s: s.execute(text("CREATE TABLE drill_notes (id INT, note TEXT)")))
    owner.write(lambda s: s.execute(text("INSERT INTO drill_notes VALUES (1, 'antes')")))
    before = [f"antes {uuid.uuid4().hex[:8]}" for _ in range(3)]
    after = [f"despues {uuid.uuid4().hex[:8]}" for _ in range(2)]
    for label in before:
        write(label)
    noted = noted_moment()
    for label in after:
        write(label)
    owner.write(lambda s: s.execute(text("INSERT INTO drill_notes VALUES (2, 'despues')")))
    owner.write(lambda s: s.execute(text("DROP TABLE drill_notes")))  # the mistake
    owner.dispose()
    # A copy now also closes and archives the binary log that holds the mistake.
    cluster.medsys("backup", "now", "--pair", pair)

    port = cluster.settings.port_offset + {"clinical": 5306, "portal": 5307}[pair]
    said = restore_to(cluster, pair, noted, folder, port)
    replayed = re.search(r"and (\d+) archived binary logs", said)
    assert replayed and int(replayed[1]) >= 1, f"the copy alone was restored: {said}"

    as_owner = _restored(cluster, pair, port, owner=True)
    notes = as_owner.read(
        lambda s: s.execute(text("SELECT id, note FROM drill_notes ORDER BY id")).all()
    )
    as_owner.dispose()
    assert [tuple(row) for row in notes] == [(1, "antes")]
    return before, after, port


def consultation_writer(clinical: Clinical, rut: str) -> Callable[[str], None]:
    """Opens a consultation for ``rut`` with the given reason, as a doctor, through the
    clinical API."""
    doctor = clinical.login("dra.soto")

    def consult(reason: str) -> None:
        made = clinical.call(
            "POST",
            "/api/consultations",
            doctor,
            json={
                "patient_rut": rut,
                "doctor_id": 1,
                "starts_at": "2026-12-01T10:00",
                "reason": reason,
            },
        )
        assert made.status_code == 201, made.text

    return consult


def account_opener(cluster: MedsysCluster, accounts: dict[str, str]) -> Callable[[str], None]:
    """Opens a portal account named after the label (password "clave-drill-1") and notes
    its RUT in ``accounts``."""

    def open_account(label: str) -> None:
        body = random.randint(80_000_000, 89_999_999)
        rut = f"{body}-{check_digit(body)}"
        accounts[label] = rut
        db = cluster.database("portal")
        try:
            db.write(
                lambda s: s.add(
                    Account(rut=rut, name=label, password_hash=hash_password("clave-drill-1"))
                )
            )
        finally:
            db.dispose()

    return open_account


def test_clinical_restored_to_a_noted_second_has_exactly_the_consultations_before_it(
    cluster: MedsysCluster, restore_folder: Path
) -> None:
    clinical = Clinical(cluster)
    body = random.randint(70_000_000, 79_999_999)
    rut = f"{body}-{check_digit(body)}"
    consult = consultation_writer(clinical, rut)

    before, after, port = _drill(cluster, "clinical", restore_folder, consult)
    restored = _restored(cluster, "clinical", port, owner=False)
    try:
        app = create_clinical(
            cluster.settings, "restored", test_config={"TESTING": True}, database=restored
        )
        token = cluster.relayed(Service.CLINICAL, Role.DOCTOR, "dra.soto")
        history = app.test_client().get(
            f"/api/patients/{rut}/history", headers={"Authorization": f"Bearer {token}"}
        )
        assert history.status_code == 200, history.get_data(as_text=True)
        shown = history.get_data(as_text=True)
        assert all(reason in shown for reason in before), shown
        assert not any(reason in shown for reason in after), shown
    finally:
        restored.dispose()
    # The running pair still has everything.
    live = clinical.call("GET", f"/api/patients/{rut}/history", clinical.login("dra.soto")).text
    assert all(reason in live for reason in before + after)


def test_portal_restored_to_a_noted_second_knows_exactly_the_accounts_made_before_it(
    cluster: MedsysCluster, restore_folder: Path
) -> None:
    accounts: dict[str, str] = {}
    open_account = account_opener(cluster, accounts)

    before, after, port = _drill(cluster, "portal", restore_folder, open_account)
    restored = _restored(cluster, "portal", port, owner=False)
    try:
        app = create_portal(
            cluster.settings,
            test_config={"TESTING": True, "WTF_CSRF_ENABLED": False},
            database=restored,
        )

        def logs_in(label: str) -> bool:
            client = app.test_client()
            answer = client.post(
                "/login", data={"rut": accounts[label], "password": "clave-drill-1"}
            )
            return answer.status_code == 302 and "/login" not in answer.headers["Location"]

        assert all(logs_in(label) for label in before)
        assert not any(logs_in(label) for label in after)
    finally:
        restored.dispose()
