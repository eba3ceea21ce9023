"""When a login must be refused before the password is even checked. Pure: a counter in,
a counter (or a refusal) out; the database keeps the counters and locks their rows.

Both the account and the address are limited, so guessing one person's password from many
addresses, or many people's from one address, is slowed alike. An attempt is counted as a
failure *before* its password is checked (it is admitted by reserving a failure), and
given back only when it succeeds: parallel guesses therefore cannot pass the limit. A
success clears its own account's counter but only gives its reservation back to the
address, so a guesser cannot reset an address's count with an account of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=15)  # failures older than this are forgotten
LOCK = timedelta(minutes=15)  # how long a lock lasts once the limit is reached
ACCOUNT_LIMIT = 5  # failures for one account within the window
ADDRESS_LIMIT = 20  # failures from one address within the window

ACCOUNT_LOCKED = "Demasiados intentos fallidos para esta cuenta. Intente nuevamente en 15 minutos."
ADDRESS_LOCKED = (
    "Demasiados intentos fallidos desde esta conexión. Intente nuevamente en 15 minutos."
)


@dataclass(frozen=True)
class Counter:
    failures: int = 0
    window_started: datetime | None = None
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


def admit(counter: Counter, *, limit: int, now: datetime) -> Counter | None:
    """The counter with this attempt reserved as a failure, or None: refuse it unchecked."""
    if counter.locked(now):
        return None
    stale = counter.window_started is None or now - counter.window_started >= WINDOW
    if stale or counter.locked_until is not None:  # a window or a lock that has run out
        counter = Counter(0, now, None)
    failures = counter.failures + 1
    return Counter(failures, counter.window_started, now + LOCK if failures >= limit else None)


def give_back(counter: Counter, *, limit: int) -> Counter:
    """The reservation of an attempt that was not a failure after all."""
    failures = max(counter.failures - 1, 0)
    locked_until = counter.locked_until if failures >= limit else None
    return Counter(failures, counter.window_started, locked_until)
