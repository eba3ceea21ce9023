"""Demo patient accounts, loaded by `medsys up` into an empty portal database."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medsys.core.demo_logins import demo_password
from medsys.core.passwords import hash_password
from medsys.portal.models import Account

PATIENTS = (
    ("11111111-1", "Juan Pérez"),
    ("22222222-2", "María González"),
    ("33333333-3", "Pedro Pascal"),
)


def load(session: Session, *, seed: str) -> bool:
    if session.scalar(select(func.count()).select_from(Account)):
        return False
    session.add_all(
        Account(rut=rut, name=name, password_hash=hash_password(demo_password(seed, rut)))
        for rut, name in PATIENTS
    )
    return True
