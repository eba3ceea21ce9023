"""gunicorn's configuration for the Flask services (``-c python:medsys.launcher.gunicorn_hooks``):
a folder for prometheus_client's multiprocess mode, made before any worker starts and
removed when gunicorn ends, and each dead worker's live gauges dropped.

prometheus_client picks its multiprocess value store when it is first imported, so this
module imports it only inside a hook that runs after the folder is named: a worker,
forked from the master, must not inherit a copy imported without it."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any


def on_starting(server: Any) -> None:
    folder = tempfile.mkdtemp(prefix="medsys-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    folder = os.environ.pop("PROMETHEUS_MULTIPROC_DIR", "")
    if folder.startswith(tempfile.gettempdir()):
        shutil.rmtree(folder, ignore_errors=True)
