"""``medsys token``, ``medsys user`` and ``medsys keys``: tokens for operators, staff
accounts from the command line, and the services' signing keys."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from medsys.core.errors import MedsysError
from medsys.core.keys import (
    KeysMissingError,
    keys_dir,
    operator_token,
    public_keys,
    retire,
    rotate,
)
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.core.secrets import SecretsMissingError
from medsys.core.settings import Settings
from medsys.core.staff import OPERATOR
from medsys.core.tokens import (
    RELAY_LIFETIME,
    Actor,
    Role,
    Service,
    issuer_of,
    key_id,
    parse_role,
)

if TYPE_CHECKING:  # the ORM costs every `medsys` call ~0.3 s to import; few commands use it
    from medsys.core.staff import StaffDirectory

# Where a role's own token is for when --aud is not given.
DEFAULT_AUDIENCE = {
    Role.DOCTOR: Service.CLINICAL,
    Role.NURSE: Service.CLINICAL,
    Role.CLERK: Service.ADMIN,
    Role.ACCOUNTANT: Service.ADMIN,
    Role.PATIENT: Service.MIDDLEWARE,
    Role.SERVICE: Service.CLINICAL,
}
DEFAULT_SUBJECT = {Role.PATIENT: "11111111-1", Role.SERVICE: "middleware"}
STAFF_SERVICES = {Service.CLINICAL: "clinical", Service.ADMIN: "admin"}


def _fail(message: str, code: int) -> None:
    click.secho(f"medsys: {message}", fg="red", err=True)
    raise click.exceptions.Exit(code)


def _acting_for(text: str) -> Actor:
    role_text, _, subject = text.partition(":")
    role = parse_role(role_text)
    if role is Role.SERVICE or not subject:
        raise ValueError("--for is ROLE:SUBJECT of a person, e.g. patient:11111111-1")
    return Actor(subject, role, issuer_of(role))


def mint_token(
    settings: Settings,
    role: Role,
    subject: str | None,
    *,
    audience: Service | None,
    minutes: int,
    acting_for: str | None,
) -> str:
    """A token signed by the issuer that owns ``role`` (an operator holds every key)."""
    if (acting_for is None) != (role is not Role.SERVICE):
        raise ValueError("a service token needs --for ROLE:SUBJECT, and only a service token")
    return operator_token(
        settings,
        role,
        subject or DEFAULT_SUBJECT.get(role, f"demo-{role.value}"),
        audience=audience or DEFAULT_AUDIENCE[role],
        lifetime=timedelta(minutes=minutes),
        acting_for=_acting_for(acting_for) if acting_for else None,
    )


def directory(settings: Settings, service: Service) -> StaffDirectory:
    from medsys.core.databases import pair_database

    database = pair_database(settings, STAFF_SERVICES[service])
    if service is Service.CLINICAL:
        from medsys.clinical.app import staff_directory_for as clinical

        return clinical(database, settings)
    from medsys.admin.app import staff_directory_for as admin

    return admin(database, settings)


def register(cli: click.Group, settings_of: Callable[[], Settings]) -> None:
    """Add the identity commands to the launcher's group."""

    def guarded(action: Callable[[], Any]) -> Any:
        try:
            return action()
        except (SecretsMissingError, KeysMissingError) as error:
            _fail(str(error), 3)
        except (ValueError, InvalidRutError) as error:
            _fail(str(error), 2)
        except MedsysError as error:
            _fail(error.message, 1)

    @cli.command()
    @click.argument("role", type=click.Choice([role.value for role in Role]))
    @click.option("--sub", "subject", help="A staff username, a patient's RUT, a service name.")
    @click.option(
        "--aud",
        "audience",
        type=click.Choice([s.value for s in Service]),
        help="The one service the token is for (default: where that role works).",
    )
    @click.option(
        "--for",
        "acting_for",
        help="Service tokens only: the person it acts for, ROLE:SUBJECT.",
    )
    @click.option(
        "--minutes",
        default=15,
        show_default=True,
        type=click.IntRange(1, 15),
        help="Lifetime (service tokens: at most one minute).",
    )
    def token(
        role: str, subject: str | None, audience: str | None, acting_for: str | None, minutes: int
    ) -> None:
        """Mint a bearer token for curl, signed by the service that issues ROLE.

        Doctors and nurses are clinical's, clerks and accountants admin's, patients the
        portal's, services the middleware's; each token is for one service (--aud)."""
        click.echo(
            guarded(
                lambda: mint_token(
                    settings_of(),
                    Role(role),
                    subject,
                    audience=Service(audience) if audience else None,
                    minutes=minutes,
                    acting_for=acting_for,
                )
            )
        )

    @cli.group()
    def user() -> None:
        """Staff accounts: doctors and nurses (clinical), clerks and accountants (admin)."""

    @user.command("add")
    @click.argument("username")
    @click.option("--role", required=True, type=click.Choice([r.value for r in Role][:4]))
    @click.option("--name", "full_name", required=True, help="Full name, as staff see it.")
    @click.option("--rut", help="Doctors and nurses: their RUT.")
    @click.option("--specialty", help="Doctors: their specialty.")
    @click.option("--administrator", is_flag=True, help="May manage this service's staff accounts.")
    def user_add(
        username: str,
        role: str,
        full_name: str,
        rut: str | None,
        specialty: str | None,
        administrator: bool,
    ) -> None:
        """Create a staff account and print its first password (shown once)."""
        chosen = Role(role)
        service = issuer_of(chosen)
        extra: dict[str, Any] = {}
        if service is Service.CLINICAL:
            if not rut:
                _fail("doctors and nurses need --rut", 2)
            extra = {
                "rut": guarded(lambda: normalize_rut(rut or "")),
                "specialty": specialty if chosen is Role.DOCTOR else None,
            }
        password = guarded(
            lambda: directory(settings_of(), service).add(
                username=username,
                full_name=full_name,
                role=chosen,
                administrator=administrator,
                **extra,
            )
        )
        click.echo(f"{username.lower()} ({chosen.value}, {service.value}): password {password}")

    @user.command("list")
    def user_list() -> None:
        """Every staff account of clinical and admin."""
        settings = settings_of()
        for service in STAFF_SERVICES:
            rows: list[dict[str, Any]] = guarded(
                functools.partial(lambda s: directory(settings, s).accounts(), service)
            )
            for row in rows:
                flags = [
                    "activa" if row["active"] else "DESACTIVADA",
                    *(["administrador"] if row["administrator"] else []),
                    *(["2FA"] if row["second_factor"] else []),
                ]
                click.echo(
                    f"{service.value:9} {row['username']:16} {row['role']:11} "
                    f"{row['name']:28} {', '.join(flags)}"
                )

    def _owner(username: str) -> StaffDirectory:
        settings = settings_of()
        found = [
            candidate
            for candidate in (directory(settings, s) for s in STAFF_SERVICES)
            if any(row["username"] == username for row in candidate.accounts())
        ]
        if len(found) != 1:
            _fail(f"no single staff account named {username!r}", 2)
        return found[0]

    @user.command("deactivate")
    @click.argument("username")
    def user_deactivate(username: str) -> None:
        """Stop an account from logging in; its sessions end at once."""
        ended = guarded(lambda: _owner(username).deactivate(username))
        click.echo(f"{username}: deactivated, {ended} session(s) ended")

    @user.command("reset-password")
    @click.argument("username")
    def user_reset_password(username: str) -> None:
        """Give an account a new random password; its sessions end at once."""
        password = guarded(lambda: _owner(username).reset_password(username))
        click.echo(f"{username}: new password {password}")

    @user.command("reset-second-factor")
    @click.argument("username")
    def user_reset_second_factor(username: str) -> None:
        """Remove an account's second factor (a lost phone); its sessions end at once and
        the person enrols again from Mi cuenta."""
        ended = guarded(lambda: _owner(username).remove_second_factor(username))
        click.echo(f"{username}: second factor removed, {ended} session(s) ended")

    @cli.group()
    def patient() -> None:
        """Patients' portal accounts."""

    @patient.command("reset-second-factor")
    @click.argument("rut")
    def patient_reset_second_factor(rut: str) -> None:
        """Remove a patient's portal second factor (a lost phone; check an ID first): the
        sessions end and the patient logs in with the password."""
        from medsys.core.databases import pair_database
        from medsys.portal.accounts import remove_second_factor

        try:
            wanted = normalize_rut(rut)
        except InvalidRutError as error:
            _fail(str(error), 2)
        database = pair_database(settings_of(), "portal")
        ended = guarded(lambda: remove_second_factor(database, rut=wanted, by=OPERATOR))
        if ended is None:
            _fail(f"no portal account for {wanted}", 2)
        click.echo(f"{wanted}: portal second factor removed, {ended} session(s) ended")

    @cli.group()
    def keys() -> None:
        """The signing keys: one Ed25519 pair per issuing service."""

    @keys.command("list")
    def keys_list() -> None:
        """Each service's trusted public keys (newest first) by key id."""
        settings = settings_of()
        click.echo(f"folder: {keys_dir(settings)}")
        for service in Service:
            ids: list[str] = guarded(
                functools.partial(lambda s: [key_id(k) for k in public_keys(settings, s)], service)
            )
            click.echo(f"{service.value:11} {', '.join(ids)}")

    @keys.command("rotate")
    @click.argument("service", type=click.Choice([s.value for s in Service]))
    def keys_rotate(service: str) -> None:
        """New key pair for SERVICE; the old public key stays trusted until `retire`."""
        made = guarded(lambda: rotate(settings_of(), Service(service)))
        click.echo(
            f"{service}: new key {made}. Restart every service (medsys restart ...), "
            f"wait {RELAY_LIFETIME.seconds // 60 + 15} minutes for old tokens to expire, "
            f"then `medsys keys retire {service}`."
        )

    @keys.command("retire")
    @click.argument("service", type=click.Choice([s.value for s in Service]))
    def keys_retire(service: str) -> None:
        """Trust only SERVICE's current key (after a rotation)."""
        gone = guarded(lambda: retire(settings_of(), Service(service)))
        click.echo(f"{service}: retired {', '.join(gone) or 'nothing'}; restart the services")

    @keys.command("env")
    @click.option("--write", is_flag=True, help="Write keys/<service>.env here (mode 0600).")
    def keys_env(write: bool) -> None:
        """Fresh keys for docker-compose: one env file per app, its own private key only."""
        from pathlib import Path

        from medsys.core.keys import environment_files, write_environment_files

        if write:
            for path in write_environment_files(Path("keys")):
                click.echo(f"wrote {path}")
            return
        for service, text in environment_files().items():
            click.echo(f"# keys/{service.value}.env\n{text}")
