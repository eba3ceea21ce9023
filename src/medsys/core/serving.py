"""Work a serving process does beside its requests (a background loop, say), kept with
its app and started in the process that serves it.

gunicorn loads the Flask apps once in its master and forks the workers from it
(``--preload``): what is made at load, the ICD-10 catalogue or the dummy password hash,
is shared by every worker, but a thread started at load would run in the master alone.
So an app lists such work here, and gunicorn's ``post_worker_init`` hook
(``medsys.launcher.gunicorn_hooks``) starts it in each worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_KEY = "medsys.per_process_work"


def per_process(app: Any, start: Callable[[], None]) -> None:
    """Have ``start`` called once in every process that serves ``app``."""
    app.extensions.setdefault(_KEY, []).append(start)


def start_per_process_work(app: Any) -> None:
    for start in getattr(app, "extensions", {}).get(_KEY, ()):
        start()
