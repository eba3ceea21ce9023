"""The database layer in its Kubernetes mode (MEDSYS_DATABASE_ENDPOINT_<PAIR>): the
clinical application on one read-write endpoint, against the shared system's real
primary, then against an endpoint where nothing answers (an operator's failover gap):
honest 503s, never a crash, and readiness that stays 200 while its liveness would too."""

from __future__ import annotations

import socket

import pytest
from flask.testing import FlaskClient

from medsys.clinical.app import create_app as create_clinical
from medsys.core.databases import pair_database
from medsys.core.db import ReplicatedDatabase
from medsys.core.settings import load_settings
from medsys.core.tokens import Role, Service
from tests.conftest import MedsysCluster

pytestmark = pytest.mark.integration
PATIENT = "11111111-1"


def _nothing_listening() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clinical_on(cluster: MedsysCluster, endpoint: str) -> tuple[FlaskClient, ReplicatedDatabase]:
    settings = load_settings({**cluster.environ, "MEDSYS_DATABASE_ENDPOINT_CLINICAL": endpoint})
    database = pair_database(settings, "clinical", failover_deadline=2)
    assert database.node_names == ("clinical-endpoint",)
    app = create_clinical(settings, "endpoint", test_config={"TESTING": True}, database=database)
    return app.test_client(), database


def test_the_clinical_app_trusts_one_read_write_endpoint(cluster: MedsysCluster) -> None:
    token = {
        "Authorization": f"Bearer {cluster.relayed(Service.CLINICAL, Role.DOCTOR, 'dra.soto')}"
    }
    primary, _ = cluster.roles("clinical")
    client, database = _clinical_on(cluster, f"127.0.0.1:{cluster.settings.port(primary)}")
    try:
        assert client.get("/health").status_code == 200
        history = client.get(f"/api/patients/{PATIENT}/history", headers=token)
        assert history.status_code == 200, history.get_data(as_text=True)
    finally:
        database.dispose()

    client, database = _clinical_on(cluster, f"127.0.0.1:{_nothing_listening()}")
    try:
        assert client.get("/health").status_code == 503
        assert client.get("/health?for=readiness").status_code == 200
        history = client.get(f"/api/patients/{PATIENT}/history", headers=token)
        assert history.status_code == 503, history.get_data(as_text=True)
    finally:
        database.dispose()
