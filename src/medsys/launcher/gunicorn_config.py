"""gunicorn's configuration for the Flask services (``-c python:medsys.launcher.gunicorn_config``).

gunicorn runs this module before it loads the app, and with ``--preload`` the app (and so
prometheus_client) is imported in the master before any server hook runs: the metrics
folder must be named here, at import, for the value store prometheus_client picks then to
be the multiprocess one that every forked worker shares.
"""

from __future__ import annotations

from medsys.launcher.gunicorn_hooks import (
    child_exit,
    name_metrics_folder,
    on_exit,
    post_worker_init,
)

__all__ = ["child_exit", "on_exit", "post_worker_init"]

name_metrics_folder()
