"""A database pair seen as one: writes go to whichever node is writable *now*.

Exceptions, all ``DatabaseRoutingError``:
- ``NoPrimaryError``: no node accepts writes (mid-failover, or both down). Retried until the
  write deadline, then raised.
- ``SplitBrainError``: two nodes accept writes. We refuse to write anywhere rather than pick.
- ``CommitOutcomeUnknownError``: the connection died while COMMIT was in flight; the write may
  or may not have landed, so it is never retried blindly (a caller with an idempotency key
  may retry it).

The primary is found by asking every node, not by reading the monitor's files: what counts
is which node really accepts writes, and the database's read-only flag is the fence.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sqlalchemy import URL, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from medsys.core import replica_reads
from medsys.core.connect import mysql_transport_options
from medsys.core.connection_reuse import reuse_cheaply

T = TypeVar("T")

# MariaDB/MySQL: 1290 "running with --read-only", 1836 read-only mode; PostgreSQL: 25006.
_READ_ONLY_MYSQL_ERRORS = frozenset({1290, 1836})
_READ_ONLY_SQLSTATE = "25006"
# Client-side codes for "could not reach / lost the server". PyMySQL raises
# OperationalError for server-side errors too (a trigger's SIGNAL is one), so the class
# alone says nothing about the transport.
_MYSQL_TRANSPORT_ERRORS = frozenset({2002, 2003, 2006, 2013, 2055})
# PostgreSQL: class 08 (connection exception), and the server shutting down or starting.
_PG_TRANSPORT_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
# Seconds reads stay on the primary after the replica missed the wait (a broken link would
# otherwise cost every read the whole wait) or could not be reached.
_REPLICA_REST_BEHIND = 1.0
_REPLICA_REST_UNREACHABLE = 5.0
_WRITABLE_QUERY = {
    "mysql": "SELECT @@global.read_only = 0",
    "postgresql": "SELECT NOT pg_is_in_recovery()",
}


class DatabaseRoutingError(RuntimeError):
    """Base of the errors raised by ReplicatedDatabase."""


class NoPrimaryError(DatabaseRoutingError):
    pass


class SplitBrainError(DatabaseRoutingError):
    pass


class CommitOutcomeUnknownError(DatabaseRoutingError):
    pass


class _RetryableError(Exception):
    """Internal: the write certainly did not commit and may go to another node."""


@dataclass(frozen=True)
class Node:
    name: str
    url: URL


def mariadb_url(
    *, user: str, password: str, port: int, database: str | None = None, host: str = "127.0.0.1"
) -> URL:
    return URL.create(
        "mysql+pymysql",
        username=user,
        password=password,
        host=host,
        port=port,
        database=database,
        query={"charset": "utf8mb4"},
    )


def postgres_url(
    *, user: str, password: str, port: int, database: str = "postgres", host: str = "127.0.0.1"
) -> URL:
    return URL.create(
        "postgresql+psycopg",
        username=user,
        password=password,
        host=host,
        port=port,
        database=database,
    )


def _connect_args(url: URL, connect_timeout: float) -> dict[str, object]:
    if url.get_backend_name() == "mysql":
        # read_timeout bounds a hung server; it is above the semi-sync fallback wait.
        return {
            "connect_timeout": connect_timeout,
            "read_timeout": 15,
            "write_timeout": 15,
            **mysql_transport_options(url.host or ""),
        }
    return {"connect_timeout": max(2, round(connect_timeout))}


def _is_read_only_rejection(error: DBAPIError) -> bool:
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate == _READ_ONLY_SQLSTATE:
        return True
    args: tuple[object, ...] = getattr(original, "args", ())
    return bool(args) and args[0] in _READ_ONLY_MYSQL_ERRORS


def _is_transport_failure(error: DBAPIError) -> bool:
    if error.connection_invalidated:
        return True
    original = error.orig
    args: tuple[object, ...] = getattr(original, "args", ())
    if args and isinstance(args[0], int):  # PyMySQL: (code, message)
        return args[0] in _MYSQL_TRANSPORT_ERRORS
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is None:  # psycopg: failures before any server answer carry no SQLSTATE
        return isinstance(error, OperationalError)
    return str(sqlstate).startswith("08") or sqlstate in _PG_TRANSPORT_SQLSTATES


def audited(
    audit: Callable[[Session], None], work: Callable[[Session], T]
) -> Callable[[Session], T]:
    """``work`` preceded by its audit row, in the same transaction."""

    def both(session: Session) -> T:
        audit(session)
        return work(session)

    return both


class Database(Protocol):
    """What an application asks of its database. In service it is a ``ReplicatedDatabase``;
    the in-process tests hand the app one transaction that is rolled back after each test."""

    def write(self, work: Callable[[Session], T]) -> T: ...

    def read(self, work: Callable[[Session], T]) -> T: ...

    def audited_read(self, audit: Callable[[Session], None], work: Callable[[Session], T]) -> T: ...

    def find_primary(self) -> str: ...

    def dispose(self) -> None: ...


class ReplicatedDatabase:
    def __init__(
        self,
        nodes: Sequence[Node],
        *,
        connect_timeout: float = 1.0,
        failover_deadline: float = 20.0,
        pool_size: int = 5,
        replica_wait: float = 0.0,
    ) -> None:
        """``replica_wait``: seconds an audited read may wait for the replica to apply
        everything committed before it (0: every read on the primary)."""
        if not nodes:
            raise ValueError("a replicated database needs at least one node")
        self._engines: dict[str, Engine] = {
            node.name: create_engine(
                node.url,
                # connection_reuse pings and resets only when it is needed.
                pool_pre_ping=False,
                pool_reset_on_return=None,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_recycle=300,
                connect_args=_connect_args(node.url, connect_timeout),
            )
            for node in nodes
        }
        for engine in self._engines.values():
            reuse_cheaply(engine)
        self._backend = nodes[0].url.get_backend_name()
        self._failover_deadline = failover_deadline
        self._replica_wait = replica_wait if len(nodes) > 1 else 0.0
        self._replica_rests_until = 0.0  # monotonic; a replica that failed us is left alone
        self._primary: str | None = None
        self._lock = threading.Lock()

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(self._engines)

    def engine(self, node: str) -> Engine:
        return self._engines[node]

    def is_writable(self, node: str) -> bool | None:
        """True/False as the node says; None when it cannot be asked."""
        try:
            with self._engines[node].connect() as connection:
                return bool(connection.execute(text(_WRITABLE_QUERY[self._backend])).scalar())
        except DBAPIError:
            return None

    def find_primary(self) -> str:
        writable = [name for name in self._engines if self.is_writable(name)]
        if len(writable) > 1:
            raise SplitBrainError(f"more than one node accepts writes: {', '.join(writable)}")
        if not writable:
            raise NoPrimaryError("no node of the pair accepts writes right now")
        with self._lock:
            self._primary = writable[0]
        return writable[0]

    def forget_primary(self) -> None:
        with self._lock:
            self._primary = None
        for engine in self._engines.values():
            engine.dispose()

    @property
    def primary(self) -> str:
        current = self._primary
        return current if current is not None else self.find_primary()

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction on the primary, following a failover if needed."""
        retrying = Retrying(
            stop=stop_after_delay(self._failover_deadline),
            wait=wait_exponential_jitter(multiplier=0.05, max=0.5, jitter=0.05),
            retry=retry_if_exception_type((_RetryableError, NoPrimaryError)),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._write_once(work)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _write_once(self, work: Callable[[Session], T]) -> T:
        with Session(self._engines[self.primary]) as session:
            try:
                result = work(session)
                session.flush()
            except DBAPIError as error:
                self._classify_before_commit(error)
                raise
            try:
                session.commit()
            except DBAPIError as error:
                if _is_read_only_rejection(error):
                    self.forget_primary()
                    raise _RetryableError(str(error)) from error
                if _is_transport_failure(error):
                    self.forget_primary()
                    raise CommitOutcomeUnknownError(
                        "the connection was lost during COMMIT; the write may have landed"
                    ) from error
                raise
        return result

    def _classify_before_commit(self, error: DBAPIError) -> None:
        if _is_read_only_rejection(error) or _is_transport_failure(error):
            self.forget_primary()
            raise _RetryableError(str(error)) from error

    def read(self, work: Callable[[Session], T]) -> T:
        """Reads are safe to repeat, so any transport failure is retried until the deadline."""
        deadline = time.monotonic() + self._failover_deadline
        while True:
            try:
                with Session(self._engines[self.primary]) as session:
                    return work(session)
            except (DBAPIError, NoPrimaryError) as error:
                retryable = isinstance(error, NoPrimaryError) or _is_transport_failure(error)
                if not retryable or time.monotonic() >= deadline:
                    raise
                self.forget_primary()
                time.sleep(0.1)

    def audited_read(self, audit: Callable[[Session], None], work: Callable[[Session], T]) -> T:
        """Write the audit row on the primary, then read on the replica once it has applied
        everything the primary had committed when the audit row was written, or on the
        primary if it has not within ``replica_wait``. So a replica read never shows less
        than a primary read started at the same moment: everyone reads their own writes,
        across processes and instances, with no session state to carry."""
        if not self._replica_wait:
            return self.write(audited(audit, work))
        primary, position = self.write(lambda session: self._audit_at(session, audit))
        replica = next((name for name in self._engines if name != primary), None)
        if replica is None or position is None:
            return self.read(work)
        if time.monotonic() < self._replica_rests_until:
            replica_reads.READS.labels(served_by="primary-replica-resting").inc()
            return self.read(work)
        try:
            with self._engines[replica].connect() as connection:
                caught_up = replica_reads.caught_up(connection, position, self._replica_wait)
                connection.commit()  # the read's snapshot starts after the wait
                if caught_up:
                    with Session(bind=connection) as session:
                        result = work(session)
                    replica_reads.READS.labels(served_by="replica").inc()
                    return result
            replica_reads.READS.labels(served_by="primary-replica-behind").inc()
            self._replica_rests_until = time.monotonic() + _REPLICA_REST_BEHIND
        except DBAPIError:
            # A frozen node accepts the connection and then says nothing until the
            # timeout: reads must not pay that again and again while it is fenced.
            replica_reads.READS.labels(served_by="primary-replica-unreachable").inc()
            self._replica_rests_until = time.monotonic() + _REPLICA_REST_UNREACHABLE
        return self.read(work)

    def _audit_at(
        self, session: Session, audit: Callable[[Session], None]
    ) -> tuple[str, str | None]:
        """The audit row, and the primary's position: every transaction committed before
        this one is at or before it."""
        audit(session)
        connection = session.connection()
        node = next(name for name, engine in self._engines.items() if engine is connection.engine)
        return node, replica_reads.position(connection)

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
