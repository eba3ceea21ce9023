import pytest
from hypothesis import given
from hypothesis import strategies as st

from medsys.core.rut import MAX_BODY, InvalidRutError, check_digit, is_valid_rut, normalize_rut


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("11111111-1", "11111111-1"),
        ("22.222.222-2", "22222222-2"),
        ("333333333", "33333333-3"),
        ("12.345.678-5", "12345678-5"),
        (" 10.000.013-k ", "10000013-K"),
        ("6-K", "6-K"),
        ("07.654.321-6", "7654321-6"),
    ],
)
def test_valid_ruts_normalise(given: str, canonical: str) -> None:
    assert normalize_rut(given) == canonical


@pytest.mark.parametrize(
    "given",
    ["", "abc", "12345678-9", "11111111-2", "1.23.456-7", "0-0", "12345678--5", "123456789012-3"],
)
def test_invalid_ruts_are_refused_with_a_message(given: str) -> None:
    with pytest.raises(InvalidRutError) as raised:
        normalize_rut(given)
    assert "RUT" in str(raised.value)


def test_known_check_digits() -> None:
    assert [check_digit(n) for n in (11111111, 12345678, 10000013, 6)] == ["1", "5", "K", "K"]


def test_absurdly_long_text_is_refused_not_crashed_on() -> None:
    with pytest.raises(InvalidRutError, match="demasiado largo"):
        normalize_rut("9" * 5000)


def test_a_non_string_is_refused() -> None:
    with pytest.raises(InvalidRutError):
        normalize_rut(12345678)  # type: ignore[arg-type]


bodies = st.integers(min_value=1, max_value=MAX_BODY)


@given(bodies)
def test_every_body_with_its_digit_is_valid_in_every_notation(body: int) -> None:
    digit = check_digit(body)
    dotted = f"{body:,}".replace(",", ".")
    for text in (f"{body}-{digit}", f"{dotted}-{digit}", f"{body}{digit.lower()}"):
        assert normalize_rut(text) == f"{body}-{digit}"


@given(bodies, st.sampled_from("0123456789K"))
def test_any_other_digit_is_invalid(body: int, digit: str) -> None:
    assert is_valid_rut(f"{body}-{digit}") == (digit == check_digit(body))


@given(st.text(max_size=20))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        result = normalize_rut(text)
    except InvalidRutError:
        return
    assert normalize_rut(result) == result
