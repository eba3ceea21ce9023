"""What every office page shares: templates in the portal's look, a signed-cookie login
that holds the staff session's secret and a 15-minute access token (the session is a row in
admin's database, so it holds on every instance and across a PostgreSQL failover), a CSRF
token per session, flash messages, and forms recorded once by their idempotency key.

CSRF is a synchronizer token kept in the signed session and compared in constant time, a
dozen lines: the Starlette CSRF libraries check a header that plain HTML forms cannot send.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, PackageLoader
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medsys.admin.models import FormSubmission
from medsys.core.audit import ACTION_WORDS
from medsys.core.auth import Caller, authenticate
from medsys.core.clock import SANTIAGO
from medsys.core.errors import Conflict, Forbidden, MedsysError, Unauthenticated
from medsys.core.errors import Unavailable as ServiceAway
from medsys.core.forms import once
from medsys.core.relay import MiddlewareClient, Refused, Unavailable
from medsys.core.tokens import Role

PREFIX = "/oficina"
ALREADY_SENT = "Ese formulario ya se había enviado: quedó registrado una sola vez."
ROLE_NAMES = {Role.CLERK: "recepción", Role.ACCOUNTANT: "contabilidad"}
INVOICE_STATUS = {
    "issued": "emitida",
    "partially-paid": "pago parcial",
    "paid": "pagada",
    "void": "anulada",
}


def _environment() -> Environment:
    return Environment(
        loader=ChoiceLoader(
            [PackageLoader("medsys.admin", "templates"), PackageLoader("medsys.core.look")]
        ),
        autoescape=True,
    )


templates = Jinja2Templates(env=_environment())


class LoginRequired(Exception):
    """No open session: the handler sends the browser to the login page."""

    def __init__(self, path: str) -> None:
        self.path = path


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def flash(request: Request, message: str, category: str = "info") -> None:
    request.session.setdefault("flash", []).append([category, message])


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    messages = request.session.pop("flash", [])
    return templates.TemplateResponse(
        request,
        name,
        {
            "flashed": lambda: messages,
            "stylesheet": "/look/medsys.css",
            "csrf": csrf_token(request),
            "form_key": lambda: uuid.uuid4().hex,
            "person": request.session.get("name"),
            "role": request.session.get("role"),
            "administrator": request.session.get("administrator", False),
            "role_names": {r.value: n for r, n in ROLE_NAMES.items()},
            "prefix": PREFIX,
            "invoice_status": INVOICE_STATUS,
            "actions": ACTION_WORDS,
            **context,
        },
        status_code=status,
    )


def page_error(request: Request, status: int, message: str) -> HTMLResponse:
    heading = "Sin permiso" if status == 403 else "No se pudo completar"
    return render(request, "office_error.html", status, heading=heading, message=message)


async def form_of(request: Request) -> dict[str, str]:
    """The posted form, once its CSRF token matches the session's (else Forbidden)."""
    form = {key: str(value) for key, value in (await request.form()).items()}
    expected = request.session.get("csrf", "")
    if not expected or not hmac.compare_digest(form.get("csrf_token", ""), expected):
        raise Forbidden("El formulario expiró o fue alterado. Vuelva a intentarlo.")
    return form


SIGNED_IN = ("token", "sid", "name", "role", "administrator")  # what the login keeps


def signed_out(request: Request) -> None:
    """Forget the login (its session already ended) but keep the page's notices."""
    for key in SIGNED_IN:
        request.session.pop(key, None)


def person(request: Request, *roles: Role) -> Caller:
    """The logged-in clerk or accountant, checked like any API token and its session,
    renewing the access token from the session when it has expired."""
    staff = request.app.state.staff
    if "sid" not in request.session:
        raise LoginRequired(request.url.path)

    def check() -> Caller:
        headers = {"Authorization": f"Bearer {request.session.get('token', '')}"}
        return authenticate(
            headers,
            request.app.state.verifier,
            roles or tuple(ROLE_NAMES),
            session_open=staff.session_open,
        )

    try:
        return check()
    except Forbidden:
        raise
    except Unauthenticated:
        try:
            request.session["token"] = staff.refresh(str(request.session["sid"]))["token"]
            return check()
        except Unauthenticated:
            request.session.clear()
            flash(request, "Su sesión terminó. Ingrese nuevamente.")
            raise LoginRequired(request.url.path) from None


def submitted(
    request: Request,
    caller: Caller,
    form: dict[str, str],
    work: Callable[[Session], str],
    done: str,
    back: str,
    shown: Callable[[], Response] | None = None,
) -> Response:
    """Carry out a form once: its idempotency key is written in the same transaction as
    what it does, so a double click, a reload, or a retry through the other instance after
    one died finds the key and goes where the first went, changing nothing. ``shown``:
    the first time, a page drawn at once instead (what may be shown only once, as a new
    password), never again for the same key."""
    key = form.get("idempotency_key", "").strip()
    if not 16 <= len(key) <= 64:
        flash(request, "Al formulario le falta su clave; recargue la página.", "error")
        return RedirectResponse(back, status_code=303)
    database = request.app.state.database

    def transaction(session: Session) -> tuple[str, bool]:
        return once(session, FormSubmission, key, caller.who, work)

    try:
        outcome, fresh = database.write(transaction)
    except IntegrityError:
        seen = database.read(lambda s: s.get(FormSubmission, key))
        if seen is None:
            raise
        outcome, fresh = seen.outcome, False
    except MedsysError as refusal:
        flash(request, told(refusal), "error")
        return RedirectResponse(back, status_code=303)
    if fresh and shown is not None:
        return shown()
    flash(request, done if fresh else ALREADY_SENT, "info" if fresh else "notice")
    return RedirectResponse(outcome, status_code=303)


def told(refusal: MedsysError) -> str:
    """A refusal for a person: the message and, for bad input, each field's problem."""
    details = refusal.details if isinstance(refusal.details, list) else []
    named = [f"{d['campo']}: {d['problema']}" for d in details if isinstance(d, dict)]
    return " ".join([refusal.message, *named])


def local_time(moment: Any) -> str:
    return moment.astimezone(SANTIAGO).strftime("%d-%m-%Y %H:%M") if moment else ""


templates.env.filters["hora"] = local_time
templates.env.filters["hora_iso"] = lambda iso: (
    local_time(datetime.fromisoformat(iso)) if iso else ""
)
templates.env.filters["fecha"] = lambda iso: (
    f"{iso[8:10]}-{iso[5:7]}-{iso[:4]}" if iso and len(iso) >= 10 else (iso or "")
)
templates.env.filters["pesos"] = lambda amount: f"${amount:,.0f}".replace(",", ".")


def register_office_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, error: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/ingresar?next={quote(error.path)}", status_code=303)


def accountant(request: Request) -> Caller:
    return person(request, Role.ACCOUNTANT)


Accountant = Annotated[Caller, Depends(accountant)]


def clinical(request: Request, caller: Caller, method: str, path: str, **extra: Any) -> Any:
    """Clinical's answer through the middleware, acting for the person at the page (the
    agenda for a clerk, closed consultations for an accountant); clinical away is a 503 page,
    a refusal there a 409 with its own words."""
    away = "La agenda clínica no está disponible ahora; intente en unos minutos."
    return _relayed(request.app.state.middleware, caller, away, method, path, **extra)


def portal(request: Request, caller: Caller, method: str, path: str, **extra: Any) -> Any:
    """The patient portal's answer, for the clerk at the page (the office's one errand
    there: a lost second factor); as ``clinical``, the portal away is a 503 page."""
    away = "El portal de pacientes no está disponible ahora; intente en unos minutos."
    return _relayed(request.app.state.portal, caller, away, method, path, **extra)


def _relayed(
    client: MiddlewareClient, caller: Caller, away: str, method: str, path: str, **extra: Any
) -> Any:
    try:
        return client.send(method, path, role=caller.role, subject=caller.in_person(), **extra)
    except Unavailable:
        raise ServiceAway(away) from None
    except Refused as refusal:
        raise Conflict(refusal.message) from None
