"""Log in with RUT and password (and a TOTP code when the patient turned it on); log out;
turn the second factor on (the current password is asked again)."""

from __future__ import annotations

import os
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select

from medsys.core import identity, totp
from medsys.core.clock import utc_now
from medsys.core.passwords import verify_password
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.portal import resets
from medsys.portal.accounts import check_code, check_login
from medsys.portal.extensions import database, middleware
from medsys.portal.gateway import Refused, Unavailable
from medsys.portal.models import Account, LoginCounter
from medsys.portal.views.session import current_rut, log_in, log_out, login_required

blueprint = Blueprint("auth", __name__)


def _address() -> str:
    return (request.remote_addr or "desconocida")[:64]


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("login.html")
    rut_text = request.form.get("rut", "")[:20]
    password = request.form.get("password", "")[:200]
    verdict = check_login(database(), rut_text=rut_text, password=password, address=_address())
    if verdict.refusal or verdict.rut is None:
        return render_template("login.html", error=verdict.refusal, rut=rut_text), 401
    if verdict.needs_code:
        session.clear()
        session["totp_rut"] = verdict.rut
        return redirect(url_for("auth.second_factor"))
    log_in(verdict.rut, verdict.name)
    return redirect(url_for("pages.home"))


@blueprint.route("/login/codigo", methods=["GET", "POST"])
def second_factor() -> Any:
    rut = session.get("totp_rut")
    if rut is None:
        return redirect(url_for("auth.login"))
    if request.method == "GET":
        return render_template("totp.html")
    code = request.form.get("code", "")[:10]
    verdict = check_code(database(), rut=str(rut), code=code, address=_address())
    if verdict.refusal or verdict.rut is None:
        return render_template("totp.html", error=verdict.refusal), 401
    log_in(verdict.rut, verdict.name)
    return redirect(url_for("pages.home"))


SENT = (
    "Si el RUT está registrado y tiene un correo, enviamos un enlace para crear una "
    "contraseña nueva. El enlace vale 30 minutos."
)
TOO_MANY = (
    "Ya se pidieron varios enlaces para este RUT o desde esta conexión. "
    "Espere 15 minutos y revise su correo, también la carpeta de spam."
)
CREATE_SENT = (
    "Si la clínica tiene su RUT inscrito con un correo electrónico, le enviamos un enlace "
    "para crear su contraseña; vale 30 minutos. Si no le llega, pida en recepción que "
    "revisen el correo que tienen registrado."
)


@blueprint.route("/recuperar", methods=["GET", "POST"])
def forgot() -> Any:
    """Ask for a reset link. The answer is the same whether the RUT exists or not."""
    if request.method == "GET":
        return render_template("forgot.html")
    try:
        rut = normalize_rut(request.form.get("rut", "")[:20])
    except InvalidRutError as error:
        return render_template("forgot.html", error=str(error)), 422
    if not _mail_allowed(rut):
        return render_template("forgot.html", error=TOO_MANY), 429
    token = database().write(lambda s: resets.issue(s, rut=rut))
    email = _email_of(rut) if token else None
    if token and email:
        _mail(email, rut, "Recuperar contraseña", _link(token))
    flash(SENT, "info")
    return redirect(url_for("auth.login"))


@blueprint.route("/crear-cuenta", methods=["GET", "POST"])
def create_account() -> Any:
    """A patient the clinic registered, with an e-mail address on file, gets a link to
    choose a password: the address reception recorded (after seeing an ID) is what proves
    who they are. The answer is the same whether the RUT exists, has an address or
    already has an account (then the link is a plain reset), so it tells nobody who is a
    patient here."""
    if request.method == "GET":
        return render_template("create_account.html")
    try:
        rut = normalize_rut(request.form.get("rut", "")[:20])
    except InvalidRutError as error:
        return render_template("create_account.html", error=str(error)), 422
    if not _mail_allowed(rut):
        return render_template("create_account.html", error=TOO_MANY), 429
    email = _email_of(rut)
    if email:
        token = database().write(lambda s: resets.issue(s, rut=rut, new_account=True))
        subject = "Crear su cuenta del portal"
        if token is None:  # already has one
            token = database().write(lambda s: resets.issue(s, rut=rut))
            subject = "Recuperar contraseña"
        if token:
            _mail(email, rut, subject, _link(token))
    flash(CREATE_SENT, "info")
    return redirect(url_for("auth.login"))


def _mail_allowed(rut: str) -> bool:
    """At most 5 link requests a RUT and 20 an address every 15 minutes, counted on the
    login counters whether a mail went out or not (so the limit says nothing about who
    is a patient): nobody can flood a patient's mailbox, or the outbox."""
    gate = identity.Gate(f"mail:{rut}", f"mail-address:{_address()}")
    return database().write(lambda s: identity.admit(s, LoginCounter, gate)) is None


def _link(token: str) -> str:
    return str(current_app.config["PUBLIC_URL"]) + url_for("auth.reset", token=token)


def _patient_of(rut: str) -> dict[str, Any] | None:
    """The name and e-mail address the clinic's registry has (admin, through the
    middleware), None when it cannot be asked or has no such patient. Nobody has logged
    in: the lookup is the portal's errand, and audited as such, not as the patient's."""
    try:
        return middleware().account_contact(rut)
    except (Unavailable, Refused):
        return None


def _email_of(rut: str) -> str | None:
    email = (_patient_of(rut) or {}).get("email")
    return str(email) if email else None


def _mail(email: str, rut: str, subject: str, link: str) -> None:
    """Local mode has no mail server: the message goes to the portal's outbox file."""
    stamp = utc_now().isoformat()
    line = f"{stamp} to={email} rut={rut} subject={subject} link={link}\n"
    # Created owner-only: the file holds live reset links.
    descriptor = os.open(
        current_app.config["OUTBOX"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600
    )
    with os.fdopen(descriptor, "a") as outbox:
        outbox.write(line)


@blueprint.route("/restablecer/<token>", methods=["GET", "POST"])
def reset(token: str) -> Any:
    if request.method == "GET":
        ok = database().read(lambda s: resets.valid(s, token=token)) is not None
        if not ok:
            return render_template(
                "error.html", message="El enlace no es válido, ya se usó o expiró."
            ), 410
        return render_template("reset.html")
    password = request.form.get("password", "")[:200]
    if password != request.form.get("again", "")[:200]:
        return render_template("reset.html", error="Las contraseñas no coinciden."), 422
    name = None
    pending = database().read(lambda s: resets.pending_for(s, token=token))
    if pending is not None and not pending[1]:
        # A new account takes the name the clinic's registry has.
        name = (_patient_of(pending[0]) or {}).get("nombre")
        if not name:
            message = "No podemos crear su cuenta en este momento. Intente en unos minutos."
            return render_template("reset.html", error=message), 503
    problem = database().write(lambda s: resets.use(s, token=token, password=password, name=name))
    if problem:
        return render_template("reset.html", error=problem), 422
    flash("Contraseña actualizada. Ya puede ingresar.", "info")
    return redirect(url_for("auth.login"))


@blueprint.post("/logout")
def logout() -> Any:
    log_out()
    flash("Sesión cerrada.", "info")
    return redirect(url_for("auth.login"))


@blueprint.route("/seguridad", methods=["GET", "POST"])
@login_required
def security() -> Any:
    """Turn on the second factor: a new secret, confirmed by a first valid code."""
    rut = current_rut()
    if request.method == "GET":
        secret = totp.new_secret()
        session["new_totp"] = secret
        uri = totp.provisioning_uri(secret, account=rut or "")
        return render_template("security.html", secret=secret, uri=uri)
    secret = str(session.get("new_totp") or "")
    password = request.form.get("password", "")[:200]
    account = database().read(lambda s: s.scalar(select(Account).where(Account.rut == rut)))
    if account is None or not verify_password(account.password_hash, password):
        flash("La contraseña actual no es correcta.", "error")
        return redirect(url_for("auth.security"))
    step = (
        totp.matching_step(secret, request.form.get("code", ""), now=utc_now(), last_used=None)
        if secret
        else None
    )
    if step is None:
        flash("El código no coincide; inténtelo de nuevo.", "error")
        return redirect(url_for("auth.security"))

    def enable(s: Any) -> None:
        account = s.scalar(select(Account).where(Account.rut == rut))
        account.totp_secret, account.totp_enabled = secret, True
        account.totp_last_step = step

    database().write(enable)
    session.pop("new_totp", None)
    flash("Segundo factor activado: se pedirá un código al ingresar.", "info")
    return redirect(url_for("pages.home"))


@blueprint.route("/clave", methods=["GET", "POST"])
@login_required
def change_password() -> Any:
    """A new password with the current one; every session of the account ends, this
    browser gets a fresh one."""
    rut = current_rut() or ""
    if request.method == "GET":
        return render_template("password.html")
    current = request.form.get("current", "")[:200]
    password = request.form.get("password", "")[:200]
    if password != request.form.get("again", "")[:200]:
        return render_template("password.html", error="Las contraseñas no coinciden."), 422
    problem = database().write(
        lambda s: resets.change(s, rut=rut, current=current, password=password)
    )
    if problem:
        return render_template("password.html", error=problem), 422
    log_in(rut, str(session.get("name", "")))
    flash("Contraseña cambiada. Se cerraron sus otras sesiones.", "info")
    return redirect(url_for("pages.home"))
