"""The in-process tier: an app (Flask's test client, FastAPI's TestClient) or a records
layer in this process, against the shared system's real, migrated primary, with its own
user and rights. Each test runs inside one transaction that is rolled back when it ends,
and every write of the app is a savepoint in it (SQLAlchemy's ``create_savepoint`` join
mode, Warehouse's pattern), so tests leave nothing behind and need no clean-up.

What this tier does not see, the whole-system tests do: the pair's routing and failover,
the processes, the balancer and the other services' real answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from medsys.core.db import Database, audited
from tests.conftest import MedsysCluster

T = TypeVar("T")


class OneTransaction(Database):
    """The pair's primary through one connection, in one transaction the test rolls back.
    ``write`` releases a savepoint where the service would commit; a failed write rolls
    back to it, as a failed commit would leave nothing."""

    def __init__(self, connection: Connection, primary: str) -> None:
        self.connection = connection
        self.primary = primary
        self.writes = 0

    def _session(self) -> Session:
        return Session(bind=self.connection, join_transaction_mode="create_savepoint")

    def write(self, work: Callable[[Session], T]) -> T:
        with self._session() as session:
            result = work(session)
            session.flush()
            session.commit()
        self.writes += 1
        return result

    def read(self, work: Callable[[Session], T]) -> T:
        with self._session() as session:
            return work(session)

    def audited_read(self, audit: Callable[[Session], None], work: Callable[[Session], T]) -> T:
        return self.write(audited(audit, work))

    def find_primary(self) -> str:
        return self.primary

    def dispose(self) -> None:
        """The test's fixture owns the connection."""

    def scalar(self, sql: str, **parameters: object) -> object:
        """What the test's transaction holds now (its own writes included)."""
        return self.connection.execute(text(sql), parameters).scalar()


def one_transaction(cluster: MedsysCluster, pair_name: str) -> Iterator[OneTransaction]:
    database = cluster.application_database(pair_name)
    primary = database.find_primary()
    connection = database.engine(primary).connect()
    outer = connection.begin()
    try:
        yield OneTransaction(connection, primary)
    finally:
        outer.rollback()
        connection.close()
        database.dispose()


@pytest.fixture
def clinical_db(cluster: MedsysCluster) -> Iterator[OneTransaction]:
    yield from one_transaction(cluster, "clinical")


@pytest.fixture
def admin_db(cluster: MedsysCluster) -> Iterator[OneTransaction]:
    yield from one_transaction(cluster, "admin")


@pytest.fixture
def portal_db(cluster: MedsysCluster) -> Iterator[OneTransaction]:
    yield from one_transaction(cluster, "portal")
