"""Writers that commit numbered rows through the shared database layer, a reader, and a
watcher that samples whether two nodes of the pair accept writes at once."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from medsys.core.databases import pair_database
from medsys.core.db import DatabaseRoutingError, ReplicatedDatabase
from medsys.core.secrets import Secrets
from medsys.core.settings import Settings
from medsys.core.topology import Pair

chaos_metadata = MetaData()
chaos_writes = Table(
    "chaos_writes",
    chaos_metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", String(32), nullable=False, index=True),
    Column("writer", Integer, nullable=False),
    Column("seq", Integer, nullable=False),  # not unique on purpose: duplicates must show
    Column("written_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


@dataclass
class Tally:
    acknowledged: set[tuple[int, int]] = field(default_factory=set)
    commit_times: list[float] = field(default_factory=list)  # wall clock of each success
    write_errors: list[tuple[float, str]] = field(default_factory=list)
    outcome_unknown: int = 0
    reads: int = 0
    read_errors: list[tuple[float, str]] = field(default_factory=list)
    both_writable_at: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Workload:
    def __init__(
        self, settings: Settings, secrets: Secrets, pair: Pair, writers: int = 4, pace: float = 0.02
    ) -> None:
        self.settings, self.secrets, self.pair = settings, secrets, pair
        self.run_id = uuid.uuid4().hex
        self.writers, self.pace = writers, pace
        self.tally = Tally()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._databases: list[ReplicatedDatabase] = []

    def _database(self, *, admin: bool = False) -> ReplicatedDatabase:
        # Its own scratch table: made and written as the schema's owner (the application's
        # user may create nothing).
        database = pair_database(
            self.settings,
            self.pair.name,
            admin=admin,
            owner=not admin,
            failover_deadline=30.0,
            pool_size=2,
        )
        self._databases.append(database)
        return database

    def start(self) -> None:
        database = self._database()
        database.write(lambda session: chaos_metadata.create_all(session.connection()))
        for writer in range(self.writers):
            self._spawn(self._write_loop, writer)
        self._spawn(self._read_loop)
        self._spawn(self._watch_loop)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _write_loop(self, writer: int) -> None:
        database = self._database()
        seq = 0
        while not self._stop.is_set():
            seq += 1
            row = {"run_id": self.run_id, "writer": writer, "seq": seq}

            def commit(session: Session, values: dict[str, object] = row) -> None:
                session.execute(insert(chaos_writes), values)

            try:
                database.write(commit)
            except DatabaseRoutingError as error:
                self._record_write_failure(error)
            except SQLAlchemyError as error:
                self._record_write_failure(error)
            else:
                with self.tally.lock:
                    self.tally.acknowledged.add((writer, seq))
                    self.tally.commit_times.append(time.time())
            time.sleep(self.pace)

    def _record_write_failure(self, error: Exception) -> None:
        with self.tally.lock:
            if type(error).__name__ == "CommitOutcomeUnknownError":
                self.tally.outcome_unknown += 1
            self.tally.write_errors.append((time.time(), f"{type(error).__name__}: {error}"[:200]))

    def _read_loop(self) -> None:
        database = self._database()
        query = (
            select(func.count())
            .select_from(chaos_writes)
            .where(chaos_writes.c.run_id == self.run_id)
        )
        while not self._stop.is_set():
            try:
                database.read(lambda session: session.execute(query).scalar_one())
                with self.tally.lock:
                    self.tally.reads += 1
            except (DatabaseRoutingError, SQLAlchemyError) as error:
                with self.tally.lock:
                    self.tally.read_errors.append((time.time(), str(error)[:200]))
            time.sleep(0.1)

    def _watch_loop(self) -> None:
        database = self._database(admin=True)
        while not self._stop.is_set():
            writable = [node for node in database.node_names if database.is_writable(node)]
            if len(writable) > 1:
                with self.tally.lock:
                    self.tally.both_writable_at.append(time.time())
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=40)

    def stored_rows(self) -> list[tuple[int, int]]:
        """(writer, seq) of every stored row of this run, duplicates included."""
        database = self._database()
        query = select(chaos_writes.c.writer, chaos_writes.c.seq).where(
            chaos_writes.c.run_id == self.run_id
        )
        database.forget_primary()
        rows = database.read(lambda session: session.execute(query).all())
        return [(int(writer), int(seq)) for writer, seq in rows]

    def close(self) -> None:
        for database in self._databases:
            database.dispose()
