"""What gunicorn serves: ``medsys.clinical.wsgi:application()``, the app of
``create_app`` plus the work a serving process does beside its requests."""

from __future__ import annotations

import threading

from flask import Flask

from medsys.clinical import icd10
from medsys.clinical.app import create_app
from medsys.core import passwords


def application() -> Flask:
    app = create_app()

    # The ICD-10 catalogue is loaded now, not on a doctor's first search; the dummy
    # password hash is made before the first login.
    def warm() -> None:
        passwords.warm()
        icd10.warm()

    threading.Thread(target=warm, name="warm", daemon=True).start()
    return app
