"""What gunicorn serves: ``medsys.clinical.wsgi:application()``, the app of
``create_app`` with what its workers share made before they fork (``--preload``)."""

from __future__ import annotations

from flask import Flask

from medsys.clinical import icd10
from medsys.clinical.app import create_app
from medsys.core import passwords


def application() -> Flask:
    app = create_app()
    # Loaded once, in gunicorn's master, and shared by the workers forked from it: the
    # ICD-10 catalogue (not loaded on a doctor's first search) and the dummy password
    # hash (made before the first login).
    passwords.warm()
    icd10.warm()
    return app
