"""The SLA prober's synthetic patient (medsys.sla.journeys): a portal account that logs in
and opens its history every few seconds, as a patient would, so the journey through the
portal, the middleware, clinical and admin is measured end to end.

It has no clinical or billing records; its history is an empty one, answered by every
service on the way. Made or brought up to date at every ``medsys up``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsys.core.passwords import hash_password, verify_password
from medsys.core.topology import PROBE_RUT
from medsys.portal.models import Account

PROBE_NAME = "Sonda de disponibilidad (no es paciente)"


def ensure_account(session: Session, password: str) -> bool:
    """True when the account was made or its password changed."""
    account = session.scalar(select(Account).where(Account.rut == PROBE_RUT))
    if account is None:
        session.add(Account(rut=PROBE_RUT, name=PROBE_NAME, password_hash=hash_password(password)))
        return True
    if verify_password(account.password_hash, password):
        return False
    account.password_hash = hash_password(password)
    return True
