"""Make the portal database ready: migrations, then demo accounts if it is empty."""

from __future__ import annotations

from pathlib import Path

from medsys.core.migrate import prepare as prepare_database
from medsys.core.secrets import load_secrets
from medsys.core.settings import Settings
from medsys.portal import demo


def prepare(settings: Settings) -> str:
    seed = load_secrets(settings).demo_seed
    return prepare_database(
        settings,
        "portal",
        Path(__file__).parent / "migrations",
        lambda session: demo.load(session, seed=seed),
    )
