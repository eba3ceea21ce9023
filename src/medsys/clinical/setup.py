"""Make the clinical database ready: migrations, then demo data if it is empty; save the
ICD-10 list where the serving processes read it."""

from __future__ import annotations

from pathlib import Path

from medsys.clinical import demo, icd10
from medsys.core.migrate import prepare as prepare_database
from medsys.core.secrets import load_secrets
from medsys.core.settings import Settings


def prepare(settings: Settings) -> str:
    """Migrations and demo data, and the ICD-10 list saved for the serving processes."""
    icd10.save(settings.cache_dir)
    seed = load_secrets(settings).demo_seed
    return prepare_database(
        settings,
        "clinical",
        Path(__file__).parent / "migrations",
        lambda session: demo.load(session, seed=seed),
    )
