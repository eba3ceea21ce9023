"""The accountant's reports against the ledger they come from (pure)."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from medsys.admin import reports

DAY = date(2026, 11, 30)
movement = st.builds(
    reports.Movement,
    kind=st.sampled_from(["payment", "refund"]),
    amount=st.integers(min_value=1, max_value=500_000),
    method=st.sampled_from(["efectivo", "tarjeta", "transferencia"]),
    recorded_by=st.sampled_from(["cont.lagos", "adm.vera"]),
    day=st.sampled_from([DAY, DAY - timedelta(days=1)]),
)


@given(st.lists(movement, max_size=40))
def test_the_cash_closing_adds_up_to_the_day_s_ledger(movements: list[reports.Movement]) -> None:
    rows = reports.cash_closing(movements, DAY)
    today = [m for m in movements if m.day == DAY]
    received = sum(m.amount for m in today if m.kind == "payment")
    refunded = sum(m.amount for m in today if m.kind == "refund")
    assert sum(r.received for r in rows) == received
    assert sum(r.refunded for r in rows) == refunded
    assert sum(r.net for r in rows) == received - refunded
    assert len({(r.method, r.recorded_by) for r in rows}) == len(rows)


receivable = st.builds(
    reports.Receivable,
    patient_rut=st.sampled_from(["11111111-1", "22222222-2"]),
    number=st.text(min_size=1, max_size=5),
    issued_on=st.dates(min_value=DAY - timedelta(days=400), max_value=DAY),
    outstanding=st.integers(min_value=-1000, max_value=200_000),
)


@given(st.lists(receivable, max_size=40))
def test_aging_adds_up_to_what_is_owed(items: list[reports.Receivable]) -> None:
    owed = reports.aging(items, DAY)
    totals = reports.aging_totals(owed)
    assert sum(totals.values()) == sum(i.outstanding for i in items if i.outstanding > 0)
    for rut, row in owed.items():
        assert sum(row.values()) == sum(
            i.outstanding for i in items if i.patient_rut == rut and i.outstanding > 0
        )


def test_aging_buckets_by_days_since_issue() -> None:
    assert reports.bucket_of(DAY - timedelta(days=30), DAY) == "0–30 días"
    assert reports.bucket_of(DAY - timedelta(days=31), DAY) == "31–60 días"
    assert reports.bucket_of(DAY - timedelta(days=90), DAY) == "61–90 días"
    assert reports.bucket_of(DAY - timedelta(days=91), DAY) == "más de 90 días"


def test_income_by_insurer_leaves_out_void_invoices() -> None:
    rows = reports.income_by_insurer(
        [
            reports.Billed("2026-11", "FONASA tramo C MLE", 20_000, 20_000, False),
            reports.Billed("2026-11", "FONASA tramo A MAI", 35_000, 0, False),
            reports.Billed("2026-11", "ISAPRE 70%", 35_000, 15_000, True),
            reports.Billed("2026-10", "PARTICULAR", 0, 30_000, False),
        ]
    )
    assert rows == [
        ("2026-10", "PARTICULAR", 0, 30_000),
        ("2026-11", "FONASA", 55_000, 20_000),
    ]


def test_csv_opens_in_a_spanish_spreadsheet() -> None:
    text = reports.csv_text(["mes", "previsión"], [("2026-11", "FONASA; tramo A")])
    assert text.startswith("\ufeffmes;previsión\r\n")
    assert '"FONASA; tramo A"' in text
