"""Web forms recorded once, for every app's pages: a form's idempotency key is written in
the same transaction as what the form does, so a double click, a reload or a retry after a
failover finds the key and is sent where the first went, changing nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, Session, mapped_column

from medsys.core.clock import UTCDateTime, utc_now
from medsys.core.errors import Conflict


class FormSubmissionColumns:
    """Mixed into each app's ``FormSubmission`` model (table ``form_submissions``)."""

    __tablename__ = "form_submissions"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(300))  # where the form's page went next
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


def once(
    session: Session, model: type[Any], key: str, account: str, work: Callable[[Session], str]
) -> tuple[str, bool]:
    """``work``'s outcome and True, or the outcome a first submission of ``key`` recorded
    and False. The caller's transaction commits both the work and the key, or neither."""
    seen = session.get(model, key)
    if seen is not None:
        if seen.account != account:
            raise Conflict("Esa clave de formulario pertenece a otra persona.")
        return str(seen.outcome), False
    outcome = work(session)
    session.add(model(key=key, account=account, outcome=outcome))
    return outcome, True
