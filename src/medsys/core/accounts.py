"""The operating-system accounts the services run as, and what each may hold.

Run as root, ``medsys up`` starts nothing as root: the databases and the monitors run as the
service user (``medsys`` by default), and every application as an account of its own
(``medsys-clinical``, ``medsys-admin``, ...), so that one compromised service cannot read
another's files, keys or database password, nor the databases' files. Not root, everything
runs as the user who started it and these names only say which secrets each process loads.
"""

from __future__ import annotations

from enum import StrEnum

from medsys.core.settings import Settings


class Part(StrEnum):
    DATA = "data"  # database servers, monitors and node agents: they own the data folders
    CLINICAL = "clinical"
    ADMIN = "admin"
    PORTAL = "portal"
    MIDDLEWARE = "middleware"
    BALANCER = "nginx"
    OBSERVER = "observer"  # Prometheus, its blackbox exporter and the journey prober


APPLICATION_PAIRS = {Part.CLINICAL: "clinical", Part.ADMIN: "admin", Part.PORTAL: "portal"}


def account_name(settings: Settings, part: Part) -> str:
    if part is Part.DATA:
        return settings.service_user
    return f"{settings.service_user}-{part.value}"


def every_account(settings: Settings) -> dict[Part, str]:
    return {part: account_name(settings, part) for part in Part}


# The group whose members may drive supervisord (start, stop, kill a node): the monitors,
# which rejoin an old primary. The database servers drop it when they start.
def control_group(settings: Settings) -> str:
    return f"{settings.service_user}-control"


def server_group(settings: Settings) -> str:
    """The primary group the database servers run with (the monitors share their user but
    not this group): their replication connections are the only ones opened with it, which
    is how a partition scenario cuts replication alone (chaos.network)."""
    return f"{settings.service_user}-db"


def secrets_of(part: Part) -> frozenset[str]:
    """The names (core.secrets) a process of ``part`` is given, and no other."""
    if part is Part.DATA:
        # The probe account is made with the others when a primary boots.
        return frozenset(
            {"admin_password", "replication_password", "probe_db_password", "backup_key"}
        )
    if part is Part.OBSERVER:
        return frozenset({"probe_db_password", "probe_portal_password"})
    pair = APPLICATION_PAIRS.get(part)
    return frozenset({f"app_password_{pair}"}) if pair else frozenset()


def account_secrets(settings: Settings) -> dict[str, frozenset[str]]:
    """Account name -> the secret names its file holds (accounts that need none get none)."""
    return {account_name(settings, part): secrets_of(part) for part in Part if secrets_of(part)}
