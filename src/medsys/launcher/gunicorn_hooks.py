"""gunicorn's configuration for the Flask services (``-c python:medsys.launcher.gunicorn_hooks``):
a folder for prometheus_client's multiprocess mode, made before any worker starts and
removed when gunicorn ends, and each dead worker's live gauges dropped. A gunicorn killed
outright (SIGKILL) cannot remove its folder: the next one to start removes the folders of
masters that are gone (the master's pid is in the name).

prometheus_client picks its multiprocess value store when it is first imported, so this
module imports it only inside a hook that runs after the folder is named: a worker,
forked from the master, must not inherit a copy imported without it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

PREFIX = "medsys-metrics-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def sweep_orphans(folder: Path) -> list[Path]:
    """Remove this account's metrics folders whose gunicorn master is gone."""
    removed = []
    for path in folder.glob(f"{PREFIX}*-*"):
        pid = path.name.removeprefix(PREFIX).split("-", 1)[0]
        if not pid.isdigit() or path.stat().st_uid != os.geteuid() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def on_starting(server: Any) -> None:
    sweep_orphans(Path(tempfile.gettempdir()))
    folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    folder = os.environ.pop("PROMETHEUS_MULTIPROC_DIR", "")
    if folder.startswith(tempfile.gettempdir()):
        shutil.rmtree(folder, ignore_errors=True)
