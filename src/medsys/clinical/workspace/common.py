"""What every workspace page shares: its blueprint, forms that are recorded once, and the
lookups of names that live in admin."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar

from flask import Blueprint, flash, redirect, request, url_for
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from medsys.clinical.extensions import database, registry
from medsys.clinical.models import FormSubmission
from medsys.clinical.registry import Lookup
from medsys.clinical.web import request_id
from medsys.clinical.workspace.session import caller
from medsys.core.clock import SANTIAGO
from medsys.core.errors import MedsysError
from medsys.core.forms import once

T = TypeVar("T")
blueprint = Blueprint("workspace", __name__, url_prefix="/clinica")
ALREADY_SENT = "Ese formulario ya se había enviado: quedó registrado una sola vez."


def detached(db: Session, value: T) -> T:
    """Hand records out of a writing transaction for a template: flush what was written
    (the audit row), then detach everything so the commit does not expire what the page
    shows (its relationships are loaded eagerly)."""
    db.flush()
    db.expunge_all()
    return value


def form_key() -> str:
    """A fresh idempotency key for a form being drawn (templates call it)."""
    return uuid.uuid4().hex


def names_of(ruts: list[str]) -> Lookup:
    return registry().lookup(caller(), ruts, request_id())


def back(default: str = "workspace.agenda") -> str:
    """Where a refused form returns: the page it came from (same site only)."""
    referrer = request.referrer or ""
    host = request.host_url.rstrip("/")
    if referrer.startswith(host + "/"):
        return referrer
    return url_for(default)


def submitted(
    work: Callable[[Session], str],
    done: str,
    refused_to: str = "workspace.agenda",
    shown: Callable[[], Response] | None = None,
) -> Response:
    """Carry out a form once: its idempotency key is written in the same transaction as
    what it does, so a double click, a reload or a retry after a failover finds the key
    and is sent where the first went, changing nothing. ``work`` returns that place. A
    refusal goes back to the form's page, or ``refused_to`` when the browser does not
    say which it was. ``shown``: the first time, a page drawn at once instead (what may
    be shown only once, as a new password), never again for the same key."""
    key = request.form.get("idempotency_key", "").strip()
    if not 16 <= len(key) <= 64:
        flash("Al formulario le falta su clave; recargue la página.", "error")
        return redirect(back(refused_to))
    who = caller().who

    def transaction(session: Session) -> tuple[str, bool]:
        return once(session, FormSubmission, key, who, work)

    try:
        outcome, fresh = database().write(transaction)
    except IntegrityError:
        # The same form sent twice at the very same moment: the other one was recorded.
        seen = database().read(lambda s: s.get(FormSubmission, key))
        if seen is None:
            raise
        outcome, fresh = seen.outcome, False
    except MedsysError as refusal:
        flash(refusal.message, "error")
        return redirect(back(refused_to))
    if fresh and shown is not None:
        return shown()
    flash(done if fresh else ALREADY_SENT, "info" if fresh else "notice")
    return redirect(outcome)


def local_day(text: str | None) -> date:
    if text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            flash("Fecha inválida; se muestra hoy.", "error")
    return datetime.now(SANTIAGO).date()


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=SANTIAGO)
