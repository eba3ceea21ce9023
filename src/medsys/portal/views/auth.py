"""Log in with RUT and password (and a TOTP code when the patient turned it on); log out."""

from __future__ import annotations

from typing import Any

import pyotp
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from sqlalchemy import select

from medsys.portal.accounts import check_login, totp_ok
from medsys.portal.app import database
from medsys.portal.models import Account
from medsys.portal.views.session import current_rut, log_in, login_required

blueprint = Blueprint("auth", __name__)


def _address() -> str:
    return (request.remote_addr or "desconocida")[:64]


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("login.html")
    rut_text = request.form.get("rut", "")[:20]
    password = request.form.get("password", "")[:200]
    verdict = database().write(
        lambda s: check_login(s, rut_text=rut_text, password=password, address=_address())
    )
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
    account = database().read(lambda s: s.scalar(select(Account).where(Account.rut == rut)))
    if account is None or not totp_ok(account, request.form.get("code", "")[:10]):
        return render_template("totp.html", error="Código incorrecto."), 401
    log_in(account.rut, account.name)
    return redirect(url_for("pages.home"))


@blueprint.post("/logout")
def logout() -> Any:
    session.clear()
    flash("Sesión cerrada.", "info")
    return redirect(url_for("auth.login"))


@blueprint.route("/seguridad", methods=["GET", "POST"])
@login_required
def security() -> Any:
    """Turn on the second factor: a new secret, confirmed by a first valid code."""
    rut = current_rut()
    if request.method == "GET":
        secret = pyotp.random_base32()
        session["new_totp"] = secret
        uri = pyotp.TOTP(secret).provisioning_uri(name=rut or "", issuer_name="medsys")
        return render_template("security.html", secret=secret, uri=uri)
    secret = str(session.get("new_totp") or "")
    if not secret or not pyotp.TOTP(secret).verify(
        request.form.get("code", "").strip(), valid_window=1
    ):
        flash("El código no coincide; inténtelo de nuevo.", "error")
        return redirect(url_for("auth.security"))

    def enable(s: Any) -> None:
        account = s.scalar(select(Account).where(Account.rut == rut))
        account.totp_secret, account.totp_enabled = secret, True

    database().write(enable)
    session.pop("new_totp", None)
    flash("Segundo factor activado: se pedirá un código al ingresar.", "info")
    return redirect(url_for("pages.home"))
