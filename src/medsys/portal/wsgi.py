"""What gunicorn serves: ``medsys.portal.wsgi:application()``, the app of ``create_app``
with what its workers share made before they fork (``--preload``), and the work each
serving process does beside its requests (``medsys.core.serving``)."""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from medsys.core import passwords, serving
from medsys.portal.app import create_app
from medsys.portal.booking import reconcile_pending
from medsys.portal.extensions import database, middleware

log = logging.getLogger("medsys.portal")

RECONCILE_EVERY = 60.0  # seconds between looks for abandoned bookings


def application() -> Flask:
    app = create_app()
    passwords.warm()  # in the master, shared by the workers forked from it
    serving.per_process(app, lambda: start_reconciler(app))
    return app


def start_reconciler(app: Flask) -> None:
    """Each portal process looks for bookings abandoned half-way (booking.reconcile_pending);
    releasing with the booking's own key is idempotent, so two processes may both look."""
    with app.app_context():
        db, agenda = database(), middleware()

    def loop() -> None:
        while True:
            time.sleep(RECONCILE_EVERY)
            try:
                reconcile_pending(db, agenda)
            except Exception:  # the database or the agenda is away: next round
                log.exception("booking reconciliation failed; trying again later")

    threading.Thread(target=loop, name="booking-reconciler", daemon=True).start()
