"""What a person types into a search box, made comparable with what is stored: case and
accents ignored ("munoz" finds "Muñoz", "JOSE" finds "José"), every word found anywhere
and in any order ("maria gonzalez" finds "María José González"), a RUT typed with dots
found without them.

The same folding must happen on both sides of the comparison. Python folds the words
typed; the database folds the stored text with SQL's plain ``translate()`` and the
``FOLD_FROM``/``FOLD_TO`` table below, derived from the Python fold itself so the two
cannot drift. In PostgreSQL (admin's patient registry, where people are searched) that
needs no extension, where ``unaccent`` would. MySQL and MariaDB have no ``translate()``.
"""

from __future__ import annotations

import re
import unicodedata

MAX_WORDS = 8  # a search box, not a document: more words only cost more LIKEs

# The letters with diacritics that Spanish and the names met in Chile use (including
# Portuguese, French, German, Italian, Catalan ones), in both cases: the database's
# lower() may not know them, depending on its character type.
_ACCENTED = "áàâäãåéèêëíìîïóòôöõúùûüñçýÿ"
_RUT_LIKE = re.compile(r"^[0-9][0-9.]*(-[0-9kK]?)?$")


def fold(text: str) -> str:
    """Lower case without accents: 'Muñoz' -> 'munoz'."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _fold_table() -> tuple[str, str]:
    source = _ACCENTED + _ACCENTED.upper()
    target = "".join(fold(letter) for letter in source)
    if len(target) != len(source):  # translate() maps one letter to one letter
        raise AssertionError("a letter of the fold table folds to more than one letter")
    return source, target


FOLD_FROM, FOLD_TO = _fold_table()


def search_words(text: str) -> list[str]:
    """The folded words to look for, each at most once. A word shaped like (part of) a
    RUT loses its dots: RUTs are stored as 12345678-5. A word without a letter or a digit
    ("-", "..") is no word: it would match every RUT's dash, so "-" would list everyone."""
    words: list[str] = []
    for word in fold(text).split():
        if not any(c.isalnum() for c in word):
            continue
        if _RUT_LIKE.match(word):
            word = word.replace(".", "")
        if word and word not in words:
            words.append(word)
    return words[:MAX_WORDS]
