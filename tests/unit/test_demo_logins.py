from medsys.core.demo_logins import DEMO_ACCOUNTS, demo_password


def test_every_demo_account_has_its_own_password() -> None:
    passwords = {demo_password("seed-a", account) for _, account, _ in DEMO_ACCOUNTS}
    assert len(passwords) == len(DEMO_ACCOUNTS)
    assert demo_password("seed-a", "dra.soto") == demo_password("seed-a", "dra.soto")
    assert demo_password("seed-a", "dra.soto") != demo_password("seed-b", "dra.soto")
