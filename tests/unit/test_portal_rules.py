from medsys.portal.lockout import ACCOUNT_LIMIT, ADDRESS_LIMIT, Attempts, locked_out


def test_a_few_failures_are_forgiven() -> None:
    assert locked_out(Attempts(account_failures=ACCOUNT_LIMIT - 1, address_failures=0)) is None


def test_the_account_locks_after_its_limit() -> None:
    reason = locked_out(Attempts(account_failures=ACCOUNT_LIMIT, address_failures=0))
    assert reason is not None and "esta cuenta" in reason


def test_the_address_locks_after_its_limit() -> None:
    reason = locked_out(Attempts(account_failures=0, address_failures=ADDRESS_LIMIT))
    assert reason is not None and "conexión" in reason
