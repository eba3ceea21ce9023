"""One log format for every service: UTC timestamps, the logger's name, the message."""

from __future__ import annotations

import logging
import sys
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


def name_and_check(argv: list[str], usage: str) -> tuple[str, bool] | None:
    """``[--check] NAME`` of the processes Docker runs and health-checks (monitors, node
    agents): the name and whether a health check was asked; None after printing usage."""
    arguments = argv[1:]
    check = bool(arguments) and arguments[0] == "--check"
    if check:
        arguments = arguments[1:]
    if len(arguments) != 1:
        print(usage, file=sys.stderr)
        return None
    return arguments[0], check
