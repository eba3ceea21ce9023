"""gunicorn's server hooks for the Flask services (gunicorn reads them from
``medsys.launcher.gunicorn_config``): a folder for prometheus_client's multiprocess mode,
removed when gunicorn ends, each dead worker's live gauges dropped, and each worker's own
background work started once it is a worker. A gunicorn killed outright (SIGKILL) cannot
remove its folder: the next one to start removes the folders of masters that are gone (the
master's pid is in the name).

This module has no effect when imported; ``gunicorn_config`` names the folder.
"""

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


def name_metrics_folder() -> str:
    """Make this master's metrics folder and name it in the environment, which the
    workers inherit; prometheus_client reads it when it is first imported."""
    sweep_orphans(Path(tempfile.gettempdir()))
    folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    return folder


def post_worker_init(worker: Any) -> None:
    """The app is loaded once in the master (``--preload``) and its workers are forks of
    it: threads do not survive a fork, so each worker starts its own background work here
    (``medsys.core.serving``)."""
    from medsys.core import serving

    serving.start_per_process_work(worker.wsgi)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    folder = os.environ.pop("PROMETHEUS_MULTIPROC_DIR", "")
    if folder.startswith(tempfile.gettempdir()):
        shutil.rmtree(folder, ignore_errors=True)
