"""Replication positions, pure: does what a replica holds cover what was acknowledged?

Three notations arrive from the adapters, told apart by their shape:

- PostgreSQL LSN ``16/B374D848``: a byte offset in the WAL, compared as a number;
- MariaDB GTID position ``0-1-100,1-2-7``: per replication domain, the sequence number
  (``domain-server-seq``; within a domain sequence numbers only grow, whichever server
  wrote them, so a domain is covered by a greater or equal sequence number);
- MySQL GTID set ``3E11FA47-...:1-5:7-9,<uuid>:tag:1-3``: sets of transaction numbers per
  source (and tag), covered by set inclusion.

A replica's holdings may be given as several positions joined by commas (what it received
and what it applied): the union counts, so a relay log that was thrown away on restart but
already applied still counts, and one that was received but not yet applied counts too.
"""

from __future__ import annotations

import re

_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
_MARIADB_GTID = re.compile(r"^(\d+)-(\d+)-(\d+)$")


class PositionError(ValueError):
    """A position in no notation we know (never guessed: the caller refuses to promote)."""


def _items(text: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,\s]+", text) if item.strip()]


def _lsn(item: str) -> int:
    high, low = item.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def _mariadb(items: list[str]) -> dict[int, int]:
    domains: dict[int, int] = {}
    for item in items:
        match = _MARIADB_GTID.match(item)
        if match is None:
            raise PositionError(f"not a MariaDB GTID: {item!r}")
        domain, sequence = int(match[1]), int(match[3])
        domains[domain] = max(domains.get(domain, 0), sequence)
    return domains


def _intervals(parts: list[str]) -> list[tuple[int, int]]:
    found = []
    for part in parts:
        low, _, high = part.partition("-")
        found.append((int(low), int(high or low)))
    return found


def _mysql(items: list[str]) -> dict[str, list[tuple[int, int]]]:
    sources: dict[str, list[tuple[int, int]]] = {}
    for item in items:
        source, *rest = item.split(":")
        key = source.lower()
        for part in rest:
            if re.fullmatch(r"\d+(-\d+)?", part):
                sources.setdefault(key, []).extend(_intervals([part]))
            elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", part):
                key = f"{source.lower()}:{part.lower()}"  # a tagged GTID (MySQL 8.4)
            else:
                raise PositionError(f"not a MySQL GTID set: {item!r}")
    return sources


def _contains(have: list[tuple[int, int]], low: int, high: int) -> bool:
    """Is every number of low..high in the union of ``have``?"""
    wanted = low
    for start, end in sorted(have):
        if start > wanted:
            return False
        wanted = max(wanted, end + 1)
        if wanted > high:
            return True
    return wanted > high


def notation(text: str) -> str:
    items = _items(text)
    if not items:
        return "empty"
    if all(_LSN.match(item) for item in items):
        return "lsn"
    if all(_MARIADB_GTID.match(item) for item in items):
        return "mariadb-gtid"
    if all(":" in item for item in items):
        return "mysql-gtid"
    raise PositionError(f"unknown replication position {text!r}")


def covers(have: str, need: str) -> bool:
    """True when every transaction in ``need`` is in ``have``."""
    needed = notation(need)
    if needed == "empty":
        return True
    held = notation(have)
    if held == "empty":
        return False
    if held != needed:
        raise PositionError(f"cannot compare {have!r} with {need!r}")
    if needed == "lsn":
        return max(map(_lsn, _items(have))) >= max(map(_lsn, _items(need)))
    if needed == "mariadb-gtid":
        holdings = _mariadb(_items(have))
        return all(holdings.get(d, -1) >= s for d, s in _mariadb(_items(need)).items())
    sets = _mysql(_items(have))
    return all(
        _contains(sets.get(source, []), low, high)
        for source, intervals in _mysql(_items(need)).items()
        for low, high in intervals
    )
