"""Node data that a failover or an adoption moved aside instead of deleting
(``NODE.diverged-TIME``, ``NODE.replaced-TIME``). It is kept on purpose: a diverged old
primary may hold writes worth reading before they are gone. But nothing removes it, and
it holds patients' data, so ``medsys status`` lists it with its size until a person has
looked and removed it."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from medsys.nodes.base import DIVERGED, REPLACED

_MARKERS = (DIVERGED, REPLACED)


@dataclass(frozen=True)
class KeptAside:
    path: Path
    size_bytes: int


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # a file removed while we count
                total += (Path(root) / name).lstat().st_size
    return total


def kept_aside(data_dir: Path) -> list[KeptAside]:
    """Every set-aside data folder directly under ``data_dir``, oldest name first."""
    if not data_dir.is_dir():
        return []
    found = [
        KeptAside(entry, _size(entry))
        for entry in data_dir.iterdir()
        if entry.is_dir() and any(marker in entry.name for marker in _MARKERS)
    ]
    return sorted(found, key=lambda kept: kept.path.name)
