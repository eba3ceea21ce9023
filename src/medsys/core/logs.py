"""One log format for every service: UTC timestamps, the logger's name, the message."""

from __future__ import annotations

import logging
import time


def configure_logging(level: int = logging.INFO) -> None:
    """Idempotent: the first call sets the root handler, later ones change nothing."""
    root = logging.getLogger()
    if any(getattr(handler, "_medsys", False) for handler in root.handlers):
        return
    handler = logging.StreamHandler()
    formatter = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ %(name)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler._medsys = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
