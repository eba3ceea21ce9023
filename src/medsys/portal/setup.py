"""Make the portal database ready: migrations, demo accounts if it is empty, and the SLA
prober's synthetic patient."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from medsys.core.migrate import prepare as prepare_database
from medsys.core.secrets import load_secrets
from medsys.core.settings import Settings
from medsys.portal import demo, probe


def prepare(settings: Settings) -> str:
    secrets = load_secrets(settings)
    seed, probe_password = secrets.demo_seed, secrets.probe_portal_password

    def load(session: Session) -> bool:
        loaded = demo.load(session, seed=seed)
        probe.ensure_account(session, probe_password)
        return loaded

    return prepare_database(settings, "portal", Path(__file__).parent / "migrations", load)
