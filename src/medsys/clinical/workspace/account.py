"""Mi cuenta: a doctor or nurse changes their own password and turns on a second factor,
from the page, not with curl. The same directory rules as the JSON API (``core.staff``);
the password change and the confirmation are recorded once with the form's key."""

from __future__ import annotations

from typing import Any

from flask import flash, render_template, request, session, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from medsys.clinical.extensions import database, staff_directory
from medsys.clinical.workspace.common import blueprint, submitted
from medsys.clinical.workspace.session import ROLE_NAMES, caller, signed_out, staff_page
from medsys.core.audit import ACTION_WORDS, actions_of
from medsys.core.errors import InvalidInput, MedsysError
from medsys.core.staff import MINIMUM_PASSWORD


def _page(enrolling: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    who = caller().in_person()
    return render_template(
        "account.html",
        who=who,
        full_name=session.get("name", who),
        role_name=ROLE_NAMES.get(caller().role, caller().role.value),
        second_factor_on=staff_directory().second_factor_on(who),
        enrolling=enrolling,
        minimum_password=MINIMUM_PASSWORD,
        password_action=url_for("workspace.change_password"),
        begin_action=url_for("workspace.begin_second_factor"),
        confirm_action=url_for("workspace.confirm_second_factor"),
        form_fields="_form.html",
    ), status


@blueprint.get("/cuenta")
@staff_page()
def account() -> tuple[str, int]:
    return _page()


@blueprint.get("/mis-acciones")
@staff_page()
def my_actions() -> str:
    """What the person logged in did in clinical, from its append-only audit log."""
    who = caller().who
    entries = database().read(lambda db: actions_of(db, actor=who, limit=200))
    return render_template("actions.html", entries=entries, verbs=ACTION_WORDS)


@blueprint.post("/cuenta/clave")
@staff_page()
def change_password() -> Response:
    who = caller().in_person()
    current = request.form.get("clave_actual", "")
    new = request.form.get("clave_nueva", "")

    def work(db: Session) -> str:
        if new != request.form.get("clave_repetida", ""):
            raise InvalidInput("La contraseña nueva y su repetición no coinciden.")
        staff_directory().change_password_in(db, who, current, new)
        return url_for("workspace.login")

    answer = submitted(work, "Contraseña cambiada. Ingrese con la nueva.", "workspace.account")
    if answer.location == url_for("workspace.login"):
        signed_out()  # every session ended, this one too; the notice stays
    return answer


@blueprint.post("/cuenta/segundo-factor")
@staff_page()
def begin_second_factor() -> Any:
    # Not recorded once: each request makes a new pending secret and shows it, so the
    # page a person reads always holds the secret the directory will check.
    try:
        enrolling = staff_directory().begin_second_factor(
            caller().in_person(), request.form.get("clave", "")
        )
    except MedsysError as refusal:
        flash(refusal.message, "error")
        return _page(status=refusal.status)
    return _page(enrolling)


@blueprint.post("/cuenta/segundo-factor/confirmar")
@staff_page()
def confirm_second_factor() -> Response:
    who = caller().in_person()
    code = request.form.get("codigo", "").strip()

    def work(db: Session) -> str:
        staff_directory().confirm_second_factor_in(db, who, code)
        return url_for("workspace.account")

    done = "Segundo factor activado: desde ahora se le pedirá el código."
    return submitted(work, done, "workspace.account")
