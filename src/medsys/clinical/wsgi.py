"""What gunicorn serves: ``medsys.clinical.wsgi:application()``, the app of
``create_app`` plus the work a serving process does beside its requests."""

from __future__ import annotations

import threading

from flask import Flask

from medsys.clinical import icd10
from medsys.clinical.app import create_app


def application() -> Flask:
    app = create_app()
    # The ICD-10 catalogue takes about 2 s to load: not on a doctor's first search.
    threading.Thread(target=icd10.warm, name="icd10-warm", daemon=True).start()
    return app
