"""Search-box text: folded as the database folds names (case and accents ignored), split
into words, RUTs typed with dots found without them."""

from __future__ import annotations

from medsys.core.text_search import FOLD_FROM, FOLD_TO, MAX_WORDS, fold, search_words


def test_case_and_accents_are_ignored() -> None:
    assert fold("Muñoz") == "munoz"
    assert fold("JOSÉ Ángel Pérez") == "jose angel perez"
    assert fold("Güemes Ibáñez") == "guemes ibanez"


def test_the_database_table_folds_every_letter_as_python_does() -> None:
    # SQL's translate() gets this table; the words typed get fold(): they must agree.
    assert len(FOLD_FROM) == len(FOLD_TO)
    for stored, plain in zip(FOLD_FROM, FOLD_TO, strict=True):
        assert fold(stored) == plain, stored
    assert "ñ" in FOLD_FROM and "Ñ" in FOLD_FROM and "Ú" in FOLD_FROM


def test_words_are_looked_for_each_once_in_any_order() -> None:
    assert search_words("  María  JOSÉ maría ") == ["maria", "jose"]
    assert search_words("") == []
    assert search_words("   ") == []
    assert search_words("\u0303") == []  # a lone combining accent is no word
    # Nor is punctuation alone: "-" is in every RUT, "%" and "_" in no name.
    assert search_words("- .. % _") == []
    assert search_words("pérez - 5") == ["perez", "5"]
    assert len(search_words(" ".join(f"w{i}" for i in range(20)))) == MAX_WORDS


def test_a_rut_typed_with_dots_is_looked_for_without_them() -> None:
    assert search_words("12.345.678-k") == ["12345678-k"]
    assert search_words("12.345") == ["12345"]
    assert search_words("Pérez 7.654.321-0") == ["perez", "7654321-0"]
    # Not RUT-shaped: the dot is part of what was typed.
    assert search_words("j.perez") == ["j.perez"]
