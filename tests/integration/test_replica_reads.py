"""Audited reads on the replicas (core.replica_reads), on the shared system's real pairs:
a write made through one instance is in the very next read through the other, whether
the replica or the primary serves it; a replica that stops applying leaves the reads to
the primary, which still shows everything."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from medsys.chaos.lab import Lab
from medsys.core.tokens import Role
from medsys.core.topology import pair_named
from tests.conftest import MedsysCluster, eventually
from tests.integration.test_admin import Admin
from tests.integration.test_clinical import Clinical

pytestmark = pytest.mark.integration
PATIENT = "33333333-3"


def served(cluster: MedsysCluster, instances: tuple[str, ...]) -> dict[str, float]:
    """``medsys_audited_reads_total`` by where it was served, summed over ``instances``."""
    totals: dict[str, float] = {}
    for name in instances:
        text = httpx.get(f"http://127.0.0.1:{cluster.settings.port(name)}/metrics").text
        for where, count in re.findall(
            r'^medsys_audited_reads_total\{served_by="([^"]+)"\} (\S+)$', text, re.M
        ):
            totals[where] = totals.get(where, 0.0) + float(count)
    return totals


def grew(before: dict[str, float], after: dict[str, float], where: str) -> float:
    return after.get(where, 0.0) - before.get(where, 0.0)


@pytest.fixture(scope="module")
def clinical(cluster: MedsysCluster) -> Clinical:
    return Clinical(cluster)


@pytest.fixture(scope="module")
def consultation(clinical: Clinical) -> tuple[str, int]:
    doctor = clinical.login("dra.soto")
    created = clinical.call(
        "POST",
        "/api/consultations",
        doctor,
        json={
            "patient_rut": PATIENT,
            "doctor_id": 1,
            "starts_at": "2026-12-02T10:00",
            "reason": "Lectura desde la réplica",
        },
    )
    assert created.status_code == 201, created.text
    return doctor, int(created.json()["id"])


def _note_then_read(clinical: Clinical, doctor: str, consultation_id: int) -> bool:
    """A new note through app1 (notes are appended, stamped), then the patient's history
    through app1-replica at once."""
    note = f"nota {uuid.uuid4().hex}"
    changed = clinical.call(
        "PATCH", f"/api/consultations/{consultation_id}", doctor, json={"notes": note}
    )
    assert changed.status_code == 200, changed.text
    history = clinical.call(
        "GET",
        f"/api/patients/{PATIENT}/history?per_page=100",
        clinical.relayed(Role.PATIENT, PATIENT),
        instance=1,
    )
    assert history.status_code == 200, history.text
    notes = {c["id"]: c["notes"] for c in history.json()["consultations"]}
    return note in notes.get(consultation_id, "")


def test_each_write_is_in_the_next_read_and_the_replica_serves_them(
    clinical: Clinical, consultation: tuple[str, int]
) -> None:
    doctor, consultation_id = consultation
    instances = ("app1", "app1-replica")
    before = served(clinical.cluster, instances)
    seen = [_note_then_read(clinical, doctor, consultation_id) for _ in range(20)]
    after = served(clinical.cluster, instances)
    assert all(seen), f"{seen.count(False)} of 20 reads missed the write just made"
    assert grew(before, after, "replica") >= 10, (before, after)


def test_a_replica_that_stops_applying_leaves_reads_to_the_primary(
    clinical: Clinical, consultation: tuple[str, int]
) -> None:
    cluster = clinical.cluster
    doctor, consultation_id = consultation
    pair = pair_named("clinical")
    lab = Lab(cluster.settings, say=lambda message: None)
    lab.wait_ready(pair)
    eventually(lambda: cluster.in_sync("clinical"), what="the clinical replica in sync")
    _, replica = cluster.roles("clinical")
    instances = ("app1", "app1-replica")
    admin = lab.adapter(pair).connect_admin(replica, timeout=5)  # type: ignore[attr-defined]
    try:
        with admin.cursor() as cursor:
            cursor.execute("STOP SLAVE SQL_THREAD")  # still receives, so commits go on
        before = served(cluster, instances)
        seen = [_note_then_read(clinical, doctor, consultation_id) for _ in range(5)]
        after = served(cluster, instances)
    finally:
        with admin.cursor() as cursor:
            cursor.execute("START SLAVE SQL_THREAD")
        admin.close()
    assert all(seen), f"{seen.count(False)} of 5 reads missed the write just made"
    # The first read waits for it and finds it behind; the next ones, within a second,
    # go straight to the primary. (The journey prober reads too: at least five.)
    behind = grew(before, after, "primary-replica-behind")
    assert behind >= 1 and behind + grew(before, after, "primary-replica-resting") >= 5, after
    assert grew(before, after, "replica") == 0, (before, after)
    eventually(lambda: cluster.in_sync("clinical"), what="the clinical replica in sync again")


def test_admin_reads_their_own_change_through_nginx(cluster: MedsysCluster) -> None:
    admin = Admin(cluster)
    rut = admin.new_patient()
    before = served(cluster, ("app2-1", "app2-2"))
    for _ in range(10):
        phone = f"+569{uuid.uuid4().int % 100_000_000:08d}"
        changed = admin.call("PATCH", f"/patients/{rut}", admin.clerk, json={"telefono": phone})
        assert changed.status_code == 200, changed.text
        read = admin.call("GET", f"/patients/{rut}", admin.clerk)
        assert read.status_code == 200 and read.json()["telefono"] == phone, read.text
    after = served(cluster, ("app2-1", "app2-2"))
    assert grew(before, after, "replica") >= 5, (before, after)
