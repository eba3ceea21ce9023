"""Every circuit breaker transition, on a fake clock."""

from hypothesis import example, given
from hypothesis import strategies as st

from medsys.middleware.resilience.breaker import BreakerPolicy, CircuitBreaker, State
from medsys.middleware.resilience.retry import RetryBudget, may_repeat


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = BreakerPolicy(
    window=10,
    minimum_calls=10,
    failure_rate=0.5,
    consecutive_failures=5,
    slow_call=2.0,
    cool_down=5,
    probes=2,
)


def breaker() -> tuple[CircuitBreaker, FakeClock, list[tuple[State, State]]]:
    clock, seen = FakeClock(), []
    made = CircuitBreaker("app1", POLICY, clock, lambda name, old, new: seen.append((old, new)))
    return made, clock, seen


def fail(b: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        assert b.allow()
        b.record(failed=True, duration=0.01, error="connection refused")


def succeed(b: CircuitBreaker, times: int = 1, duration: float = 0.01) -> None:
    for _ in range(times):
        assert b.allow()
        b.record(failed=False, duration=duration)


def test_a_run_of_failures_opens_it_and_it_then_fails_fast() -> None:
    b, _, seen = breaker()
    fail(b, 4)
    assert b.state is State.CLOSED
    fail(b)
    assert b.state is State.OPEN and seen == [(State.CLOSED, State.OPEN)]
    assert not b.allow() and b.counters.rejected == 1
    assert b.snapshot()["last_error"] == "connection refused"


def test_failure_rate_over_the_window_opens_it() -> None:
    b, _, _ = breaker()
    for _ in range(5):
        succeed(b)
        fail(b)
    assert b.state is State.OPEN


def test_too_few_calls_never_open_on_rate() -> None:
    b, _, _ = breaker()
    succeed(b)
    fail(b, 2)
    succeed(b)
    fail(b, 2)
    assert b.state is State.CLOSED


def test_old_outcomes_leave_the_window() -> None:
    b, clock, _ = breaker()
    for _ in range(4):
        fail(b)
        succeed(b)
    clock.now += 11
    succeed(b, 5)
    fail(b)
    assert b.state is State.CLOSED


def test_slow_calls_count_as_failures() -> None:
    b, _, _ = breaker()
    succeed(b, 10, duration=2.5)
    assert b.state is State.OPEN
    assert "slow call" in str(b.snapshot()["last_error"])


def test_after_the_cool_down_it_half_opens_with_limited_probes() -> None:
    b, clock, seen = breaker()
    fail(b, 5)
    clock.now += 4.9
    assert not b.allow()
    clock.now += 0.2
    assert b.allow() and b.state is State.HALF_OPEN
    assert b.allow()
    assert not b.allow(), "only two probes at a time"
    b.record(failed=False, duration=0.01)
    assert b.state is State.CLOSED
    assert seen == [
        (State.CLOSED, State.OPEN),
        (State.OPEN, State.HALF_OPEN),
        (State.HALF_OPEN, State.CLOSED),
    ]


def test_would_allow_has_no_side_effects() -> None:
    b, clock, _ = breaker()
    fail(b, 5)
    assert not b.would_allow()
    clock.now += 5
    assert b.would_allow() and b.state is State.OPEN
    assert b.allow() and b.state is State.HALF_OPEN


def test_an_abandoned_probe_gives_its_slot_back_and_counts_nothing() -> None:
    b, clock, seen = breaker()
    fail(b, 5)
    clock.now += 5
    assert b.allow() and b.allow() and not b.allow()
    b.abandon()
    b.abandon()  # both probes cancelled: no outcome, the breaker stays half-open...
    assert b.state is State.HALF_OPEN and b.counters.calls == 5
    succeed(b)  # ...and a later call may still probe, and close it
    assert b.state is State.CLOSED
    b.abandon()  # a cancelled call of a closed breaker changes nothing
    assert b.state is State.CLOSED and b.would_allow()
    assert seen[-1] == (State.HALF_OPEN, State.CLOSED)


def test_a_failed_probe_opens_it_again() -> None:
    b, clock, _ = breaker()
    fail(b, 5)
    clock.now += 5
    fail(b)
    assert b.state is State.OPEN
    assert not b.allow()


def test_a_closed_breaker_starts_with_a_clean_window() -> None:
    b, clock, _ = breaker()
    fail(b, 5)
    clock.now += 5
    succeed(b)
    fail(b, 4)
    assert b.state is State.CLOSED


def test_only_safe_requests_are_repeated() -> None:
    assert may_repeat("GET", False)
    assert may_repeat("post", True)
    assert not may_repeat("POST", False)
    assert not may_repeat("PATCH", False)


def test_retry_budget_caps_retries_to_a_fifth_of_requests() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, floor=3, window=10, clock=clock)
    for _ in range(50):
        budget.request()
    spent = sum(budget.try_spend() for _ in range(30))
    assert spent == 10 and budget.refused == 20
    clock.now += 11
    budget.request()
    assert budget.try_spend(), "a new window, the floor allows a few retries"


@given(st.lists(st.tuples(st.sampled_from((0.0, 0.4, 3.0, 11.0)), st.booleans()), max_size=120))
@example([(0.0, True)] * 5 + [(11.0, False)] + [(0.0, False)] * 9)  # old failures gone
def test_the_window_opens_it_exactly_when_a_recount_would(steps: list[tuple[float, bool]]) -> None:
    """The failures in the window are kept as calls come and go; a recount of the window
    on every call must reach the same verdict at the same call."""
    policy = BreakerPolicy(window=10, minimum_calls=10, failure_rate=0.5, consecutive_failures=999)
    clock = FakeClock()
    b = CircuitBreaker("app1", policy, clock)
    kept: list[tuple[float, bool]] = []
    for advance, failed in steps:
        clock.now += advance
        b.record(failed=failed, duration=0.01)
        kept = [(t, f) for t, f in [*kept, (clock.now, failed)] if clock.now - t <= policy.window]
        failures = sum(f for _, f in kept)
        recount_opens = len(kept) >= 10 and failures / len(kept) >= 0.5
        assert (b.state is State.OPEN) is recount_opens
        if recount_opens:
            return
