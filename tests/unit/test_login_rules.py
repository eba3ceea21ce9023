"""Lockout counters and second-factor codes: pure rules, time passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from medsys.core import lockout, totp
from medsys.core.identity import Gate
from medsys.core.lockout import ACCOUNT_LIMIT, ADDRESS_LIMIT, Counter, admit, give_back

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def fail(times: int, *, limit: int = ACCOUNT_LIMIT, start: datetime = NOW) -> Counter:
    counter = Counter()
    for _ in range(times):
        admitted = admit(counter, limit=limit, now=start)
        assert admitted is not None
        counter = admitted
    return counter


def test_attempts_below_the_limit_are_admitted_and_each_reserves_a_failure() -> None:
    counter = fail(ACCOUNT_LIMIT - 1)
    assert counter.failures == ACCOUNT_LIMIT - 1
    assert not counter.locked(NOW)


def test_the_attempt_that_reaches_the_limit_locks_and_the_next_is_refused_unchecked() -> None:
    counter = fail(ACCOUNT_LIMIT)
    assert counter.locked(NOW)
    assert admit(counter, limit=ACCOUNT_LIMIT, now=NOW + timedelta(minutes=14)) is None


def test_parallel_attempts_cannot_pass_the_limit() -> None:
    """Admission reserves a failure first: with none of them settled yet, only ``limit``
    attempts get through, however many arrive together."""
    counter, admitted = Counter(), 0
    for _ in range(50):
        after = admit(counter, limit=ADDRESS_LIMIT, now=NOW)
        if after is not None:
            counter, admitted = after, admitted + 1
    assert admitted == ADDRESS_LIMIT


def test_a_lock_ends_after_fifteen_minutes_with_a_fresh_window() -> None:
    counter = fail(ACCOUNT_LIMIT)
    later = admit(counter, limit=ACCOUNT_LIMIT, now=NOW + lockout.LOCK)
    assert later == Counter(1, NOW + lockout.LOCK, None)


def test_old_failures_are_forgotten_after_the_window() -> None:
    counter = fail(ACCOUNT_LIMIT - 1)
    later = admit(counter, limit=ACCOUNT_LIMIT, now=NOW + lockout.WINDOW)
    assert later is not None and later.failures == 1


def test_a_success_gives_its_reservation_back_and_lifts_a_lock_it_caused() -> None:
    counter = fail(ACCOUNT_LIMIT)
    released = give_back(counter, limit=ACCOUNT_LIMIT)
    assert released.failures == ACCOUNT_LIMIT - 1
    assert not released.locked(NOW)
    assert give_back(Counter(), limit=ACCOUNT_LIMIT).failures == 0


def test_a_success_on_another_account_does_not_reset_an_address() -> None:
    """A guesser with an account of their own: each of their successes gives back only
    its own reservation, so the address keeps every failure it made."""
    address = fail(10, limit=ADDRESS_LIMIT)
    own_login = admit(address, limit=ADDRESS_LIMIT, now=NOW)
    assert own_login is not None
    after_success = give_back(own_login, limit=ADDRESS_LIMIT)
    assert after_success.failures == 10


def test_a_gate_names_both_counters() -> None:
    gate = Gate.for_login("dra.soto", "127.0.0.1")
    assert (gate.account_key, gate.address_key) == ("account:dra.soto", "address:127.0.0.1")
    assert gate.limit(gate.account_key) == ACCOUNT_LIMIT
    assert gate.limit(gate.address_key) == ADDRESS_LIMIT


SECRET = pyotp.random_base32()


def code_at(moment: datetime) -> str:
    return pyotp.TOTP(SECRET).at(moment)


def test_a_current_code_matches_its_time_step() -> None:
    step = totp.matching_step(SECRET, code_at(NOW), now=NOW, last_used=None)
    assert step == pyotp.TOTP(SECRET).timecode(NOW)


def test_a_code_one_step_off_is_accepted_for_clock_drift_but_not_two() -> None:
    assert totp.matching_step(SECRET, code_at(NOW - timedelta(seconds=30)), now=NOW, last_used=None)
    assert (
        totp.matching_step(SECRET, code_at(NOW - timedelta(seconds=90)), now=NOW, last_used=None)
        is None
    )


def test_a_code_is_accepted_once_per_time_step() -> None:
    step = totp.matching_step(SECRET, code_at(NOW), now=NOW, last_used=None)
    assert totp.matching_step(SECRET, code_at(NOW), now=NOW, last_used=step) is None
    earlier = code_at(NOW - timedelta(seconds=30))
    assert totp.matching_step(SECRET, earlier, now=NOW, last_used=step) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 345"])
def test_malformed_codes_never_match(code: str) -> None:
    assert totp.matching_step(SECRET, code, now=NOW, last_used=None) is None
