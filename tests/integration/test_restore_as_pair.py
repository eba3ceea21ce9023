"""A restored copy made the pair itself (`medsys restore PAIR --adopt DIR`), on all three
pairs of a system of its own: the restore drill (records through the applications, the
moment noted, more records, a table dropped by mistake, restored to the moment), then the
copy adopted. The running applications then find exactly the records from before the
moment and the dropped table; both nodes' old data is kept aside; the other node follows
the new primary; new writes are taken; and the archive carries the new history on, which a
second restore, to a moment after the adoption, proves."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from medsys.core.db import Node, ReplicatedDatabase
from medsys.core.rut import check_digit
from medsys.core.topology import pair_named
from medsys.pairs.state import read_events
from tests.conftest import MedsysCluster, eventually, own_system_for
from tests.integration.test_admin import Admin
from tests.integration.test_backups import _archived_past_now, _restored_url, admin_drill
from tests.integration.test_binlog_backups import (
    _drill,
    _restored,
    account_opener,
    consultation_writer,
    noted_moment,
    restore_to,
)
from tests.integration.test_clinical import Clinical

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def system() -> Iterator[MedsysCluster]:
    with own_system_for(__file__) as system:
        yield system


@pytest.fixture
def folder() -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="medsys-adopt-", dir="/var/tmp"))
    parent.chmod(0o755)
    yield parent / "copy"
    shutil.rmtree(parent, ignore_errors=True)


def _adopt(system: MedsysCluster, pair: str, folder: Path) -> str:
    before = system.state(pair)
    assert before is not None
    said = system.medsys("restore", pair, "--adopt", str(folder)).stdout
    assert f"{pair} is the restored copy now" in said, said
    assert not folder.exists(), "the copy became the primary's data"
    topology = pair_named(pair)
    data = system.settings.data_dir
    kept = [path for node in topology.nodes for path in data.glob(f"{node}.replaced-*")]
    assert len(kept) == 2, f"both nodes' old data kept aside: {kept}"
    eventually(lambda: system.in_sync(pair), within=90, what=f"the {pair} pair back in sync")
    after = system.state(pair)
    assert after is not None and after.term == before.term + 1
    assert any(e["event"] == "restored" for e in read_events(system.settings, topology))
    return said


def test_the_clinical_pair_goes_back_to_a_noted_second(system: MedsysCluster, folder: Path) -> None:
    clinical = Clinical(system)
    body = random.randint(70_000_000, 79_999_999)
    rut = f"{body}-{check_digit(body)}"
    consult = consultation_writer(clinical, rut)

    before, after, port = _drill(system, "clinical", folder, consult)
    _adopt(system, "clinical", folder)

    def history() -> str:
        answer = clinical.call("GET", f"/api/patients/{rut}/history", clinical.login("dra.soto"))
        assert answer.status_code == 200, answer.text
        return answer.text

    shown = eventually(history, within=60, what="the clinical API on the adopted pair")
    assert all(reason in shown for reason in before), shown
    assert not any(reason in shown for reason in after), shown
    owner = system.database("clinical")
    notes = owner.read(lambda s: s.execute(text("SELECT note FROM drill_notes")).scalars().all())
    owner.dispose()
    assert list(notes) == ["antes"], "the dropped table is back as it was"

    # The new history goes on and is archived: a restore to after the adoption has it.
    consult = consultation_writer(clinical, rut)  # a new login: the adopted pair's sessions
    consult("despues de adoptar")
    noted = noted_moment()
    system.medsys("backup", "now", "--pair", "clinical")
    second = folder.parent / "second"
    restore_to(system, "clinical", noted, second, port)
    try:
        again = _restored(system, "clinical", port, owner=True)
        reasons = again.read(
            lambda s: (
                s.execute(
                    text("SELECT reason FROM consultations WHERE patient_rut = :r"), {"r": rut}
                )
                .scalars()
                .all()
            )
        )
        again.dispose()
        assert sorted(reasons) == sorted([*before, "despues de adoptar"]), reasons
    finally:
        system.medsys("restore", "clinical", "--stop", str(second), check=False)


def test_the_portal_pair_goes_back_to_a_noted_second(system: MedsysCluster, folder: Path) -> None:
    accounts: dict[str, str] = {}
    open_account = account_opener(system, accounts)

    before, after, _port = _drill(system, "portal", folder, open_account)
    _adopt(system, "portal", folder)
    portal = f"http://127.0.0.1:{system.settings.port('app3')}"

    def logs_in(label: str) -> bool:
        with httpx.Client(base_url=portal, timeout=30) as browser:
            page = browser.get("/login")
            token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            answer = browser.post(
                "/login",
                data={"rut": accounts[label], "password": "clave-drill-1", "csrf_token": token},
            )
            assert answer.status_code in (302, 401), answer.text[:300]
            return answer.status_code == 302 and "/login" not in answer.headers["Location"]

    eventually(lambda: logs_in(before[0]), within=60, what="a portal login on the adopted pair")
    assert all(logs_in(label) for label in before)
    assert not any(logs_in(label) for label in after)
    open_account("despues de adoptar")
    assert logs_in("despues de adoptar"), "the adopted pair takes new accounts"


def test_the_admin_pair_goes_back_to_a_noted_moment(system: MedsysCluster, folder: Path) -> None:
    api = Admin(system)
    before, after, noted = admin_drill(system, api)
    port = system.settings.port_offset + 5440
    restore_to(system, "admin", noted, folder, port)
    _adopt(system, "admin", folder)

    def found(rut: str) -> int:
        return api.call("GET", f"/patients/{rut}", api.clerk).status_code

    eventually(lambda: found(before[0]) == 200, within=60, what="the admin API on the adopted pair")
    assert [found(rut) for rut in before] == [200] * 3
    assert [found(rut) for rut in after] == [404] * 2
    owner = system.database("admin")
    notes = owner.read(lambda s: s.execute(text("SELECT note FROM drill_notes")).scalars().all())
    owner.dispose()
    assert list(notes) == ["antes"]

    # The new timeline is archived: a restore to after the adoption has what came next.
    newer = api.new_patient()
    moment = noted_moment()
    later = api.new_patient()  # PostgreSQL stops at the first commit past the moment
    _archived_past_now(system)
    second = folder.parent / "second"
    restore_to(system, "admin", moment, second, port)
    try:
        again = ReplicatedDatabase(
            [Node("restored", _restored_url(system, port, "app2_owner", "owner"))],
            failover_deadline=5,
        )
        ruts = again.read(lambda s: s.execute(text("SELECT rut FROM patients")).scalars().all())
        again.dispose()
        assert newer in ruts and set(before) <= set(ruts)
        assert later not in ruts and not set(after) & set(ruts)
    finally:
        system.medsys("restore", "admin", "--stop", str(second), check=False)
