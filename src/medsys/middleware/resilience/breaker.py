"""A circuit breaker per upstream instance.

Written here rather than taken from a library: the maintained Python breakers
(pybreaker, purgatory, aiobreaker) count exceptions of a wrapped call, while ours must
count only transport errors, timeouts, 5xx and slow calls -- never a 404 or other 4xx,
whose counting in the original system locked every patient out after a few unknown RUTs
-- over a sliding time window, with a bounded number of half-open probes and an
injected clock so every transition is unit-tested without sleeping.

CLOSED: calls flow; outcomes are kept for ``window`` seconds. It opens when at least
``minimum_calls`` were seen and the failure rate (failures + slow calls) reaches
``failure_rate``, or after ``consecutive_failures`` failures in a row (a dead instance
opens it fast even under little traffic).
OPEN: calls are refused at once, for ``cool_down`` seconds.
HALF_OPEN: up to ``probes`` calls go through; one success closes it, one failure opens it.
A call let through that ends with no outcome (cancelled: the client left, or the other
half of a joined page failed) gives its probe back (``abandon``); else a breaker whose
probes were all cancelled would stay half-open, refusing every call, for good.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerPolicy:
    window: float = 10.0
    minimum_calls: int = 10
    failure_rate: float = 0.5
    consecutive_failures: int = 5
    slow_call: float = 2.0
    cool_down: float = 5.0
    probes: int = 2


@dataclass
class Counters:
    calls: int = 0
    failures: int = 0
    rejected: int = 0
    transitions: dict[str, int] = field(default_factory=dict)


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        policy: BreakerPolicy = BreakerPolicy(),
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[str, State, State], None] | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._on_transition = on_transition
        self.state = State.CLOSED
        self._outcomes: deque[tuple[float, bool]] = deque()  # (time, failed)
        # Failures among _outcomes, kept as they come and go: counting them on every
        # call walked the whole window (hundreds of calls at a busy minute).
        self._failures_in_window = 0
        self._run_of_failures = 0
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self.counters = Counters()
        self.last_error: str | None = None

    def _move(self, new: State) -> None:
        old, self.state = self.state, new
        key = f"{old}->{new}"
        self.counters.transitions[key] = self.counters.transitions.get(key, 0) + 1
        if new is State.OPEN:
            self._opened_at = self._clock()
        if new is State.CLOSED:
            self._outcomes.clear()
            self._failures_in_window = 0
            self._run_of_failures = 0
        if new is not State.HALF_OPEN:
            self._probes_in_flight = 0
        if self._on_transition:
            self._on_transition(self.name, old, new)

    def would_allow(self) -> bool:
        """Would ``allow`` let a call through now? (no side effects: for fail-fast checks)"""
        if self.state is State.CLOSED:
            return True
        if self.state is State.OPEN:
            return self._clock() - self._opened_at >= self.policy.cool_down
        return self._probes_in_flight < self.policy.probes

    def allow(self) -> bool:
        """May a call go to this upstream now? Counts a refused call."""
        if self.state is State.OPEN and self._clock() - self._opened_at >= self.policy.cool_down:
            self._move(State.HALF_OPEN)
        if self.state is State.CLOSED:
            return True
        if self.state is State.HALF_OPEN and self._probes_in_flight < self.policy.probes:
            self._probes_in_flight += 1
            return True
        self.counters.rejected += 1
        return False

    def abandon(self) -> None:
        """A call ``allow`` let through ended with no outcome (it was cancelled): nothing
        is counted, and a half-open probe slot it held is free again."""
        if self.state is State.HALF_OPEN and self._probes_in_flight > 0:
            self._probes_in_flight -= 1

    def record(self, *, failed: bool, duration: float, error: str | None = None) -> None:
        """The outcome of a call that ``allow`` let through."""
        slow = duration >= self.policy.slow_call
        counted_as_failure = failed or slow
        self.counters.calls += 1
        if counted_as_failure:
            self.counters.failures += 1
            self.last_error = error or f"slow call ({duration:.2f} s)"
        if self.state is State.HALF_OPEN:
            self._move(State.OPEN if counted_as_failure else State.CLOSED)
            return
        if self.state is State.OPEN:
            return  # a call that started before the breaker opened
        now = self._clock()
        self._outcomes.append((now, counted_as_failure))
        self._failures_in_window += counted_as_failure
        while self._outcomes and now - self._outcomes[0][0] > self.policy.window:
            self._failures_in_window -= self._outcomes.popleft()[1]
        self._run_of_failures = self._run_of_failures + 1 if failed else 0
        if self._should_open():
            self._move(State.OPEN)

    def _should_open(self) -> bool:
        if self._run_of_failures >= self.policy.consecutive_failures:
            return True
        seen = len(self._outcomes)
        return (
            seen >= self.policy.minimum_calls
            and self._failures_in_window / seen >= self.policy.failure_rate
        )

    def snapshot(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "calls": self.counters.calls,
            "failures": self.counters.failures,
            "rejected": self.counters.rejected,
            "transitions": dict(self.counters.transitions),
            "last_error": self.last_error,
        }
