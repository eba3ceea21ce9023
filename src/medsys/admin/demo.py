"""Demo data loaded by `medsys up` on an empty admin database: a clerk (who administers
the admin accounts) and an accountant, the seed's three patients and one more, their
coverage, invoices and payments (one invoice left to pay)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medsys.admin import records
from medsys.admin.charges import consultation_item, procedure_item
from medsys.admin.models import Patient, Price, StaffAccount
from medsys.admin.schemas import CoverageIn, InvoiceIn, PatientIn, PaymentIn
from medsys.core.demo_logins import demo_password
from medsys.core.passwords import hash_password
from medsys.core.tokens import Role

PATIENTS = (
    (
        "11111111-1",
        "Juan Pérez",
        "juan.perez@example.cl",
        "+56 9 1111 1111",
        "Av. Matta 123, Santiago",
        {"insurer": "FONASA", "tramo": "C", "modality": "MLE"},
        (date(1978, 5, 14), "masculino"),
    ),
    (
        "22222222-2",
        "María González",
        "maria.gonzalez@example.cl",
        "+56 9 2222 2222",
        "Los Leones 456, Providencia",
        {"insurer": "ISAPRE", "plan": "Colmena Plan Óptimo", "percent": 70},
        (date(2019, 8, 2), "femenino"),
    ),
    (
        "33333333-3",
        "Pedro Pascal",
        "pedro.pascal@example.cl",
        "+56 9 3333 3333",
        "Av. Alemania 789, Temuco",
        {"insurer": "FONASA", "tramo": "A", "modality": "MAI"},
        (date(1975, 4, 2), "masculino"),
    ),
    ("44444444-4", "Ana Torres", None, None, None, {"insurer": "PARTICULAR"}, (None, None)),
)

INVOICES = (
    ("11111111-1", [("consultation", "Consulta medicina general", 40_000)], 20_000),
    (
        "11111111-1",
        [
            ("procedure", "Inmovilización con férula", 45_000),
            ("consultation", "Consulta traumatología", 35_000),
        ],
        0,
    ),
    ("22222222-2", [("consultation", "Consulta pediatría", 50_000)], 5_000),
    ("33333333-3", [("consultation", "Consulta medicina general", 35_000)], 0),
)


STAFF = (
    ("adm.vera", "Camila Vera", Role.CLERK, True),
    ("cont.lagos", "Rodrigo Lagos", Role.ACCOUNTANT, False),
)


PRICES = (
    ("consultation", "Medicina General", 35_000),
    ("consultation", "Pediatría", 40_000),
    ("consultation", "Traumatología", 45_000),
    ("consultation", "Cardiología", 50_000),
    ("procedure", "Inmovilización con férula", 25_000),
    ("procedure", "Vacunación según calendario", 8_000),
    ("procedure", "Curación simple", 12_000),
)


def _load_prices(session: Session) -> bool:
    """A demo price list into an empty one (its own check: databases older than it get it)."""
    if session.scalar(select(func.count()).select_from(Price)):
        return False
    for kind, name, amount in PRICES:
        item = consultation_item(name) if kind == "consultation" else procedure_item(name)
        label = f"Consulta {name}" if kind == "consultation" else name
        records.set_price(
            session, item=item, kind=kind, description=label, amount=amount, author="demo"
        )
    return True


def load(session: Session, *, seed: str) -> bool:
    """Demo staff into an empty accounts table, demo prices into an empty price list, demo
    patients into an empty database."""
    staff = _load_staff(session, seed)
    prices = _load_prices(session)
    if session.scalar(select(func.count()).select_from(Patient)):
        return staff or prices
    for rut, name, email, phone, address, coverage, (born, sex) in PATIENTS:
        records.create_patient(
            session,
            data=PatientIn.model_validate(
                {
                    "rut": rut,
                    "nombre": name,
                    "email": email,
                    "telefono": phone,
                    "direccion": address,
                    "fecha_nacimiento": born,
                    "sexo": sex,
                }
            ),
        )
        records.add_coverage(
            session,
            rut=rut,
            data=CoverageIn.model_validate({"valid_from": date(2026, 1, 1), **coverage}),
        )
    for number, (rut, lines, paid) in enumerate(INVOICES, start=1):
        issued = records.create_invoice(
            session,
            data=InvoiceIn.model_validate(
                {
                    "patient_rut": rut,
                    "lines": [
                        {"kind": kind, "description": text, "amount": amount}
                        for kind, text, amount in lines
                    ],
                }
            ),
        )
        if paid:
            payment = PaymentIn.model_validate(
                {
                    "patient_rut": rut,
                    "amount": paid,
                    "method": "tarjeta",
                    "allocations": [{"invoice": issued.number, "amount": paid}],
                }
            )
            records.record_payment(
                session,
                data=payment,
                key=f"demo-payment-{number}",
                request_digest=records.digest(payment.model_dump()),
                author="demo",
            )
    return True


def _load_staff(session: Session, seed: str) -> bool:
    if session.scalar(select(func.count()).select_from(StaffAccount)):
        return False
    session.add_all(
        StaffAccount(
            username=username,
            full_name=name,
            role=role.value,
            password_hash=hash_password(demo_password(seed, username)),
            active=True,
            is_administrator=administrator,
        )
        for username, name, role, administrator in STAFF
    )
    return True
