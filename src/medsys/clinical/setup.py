"""Make the clinical database ready: migrations, then demo data if it is empty."""

from __future__ import annotations

from pathlib import Path

from medsys.clinical import demo
from medsys.core.migrate import prepare as prepare_database
from medsys.core.secrets import load_secrets
from medsys.core.settings import Settings


def prepare(settings: Settings) -> str:
    seed = load_secrets(settings).demo_seed
    return prepare_database(
        settings,
        "clinical",
        Path(__file__).parent / "migrations",
        lambda session: demo.load(session, seed=seed),
    )
