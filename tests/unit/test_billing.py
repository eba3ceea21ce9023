import pytest
from hypothesis import given
from hypothesis import strategies as st

from medsys.admin.billing import (
    PARTICULAR,
    Coverage,
    CoverageRuleError,
    FonasaTramo,
    Insurer,
    Modality,
    invoice_status,
    split,
    split_lines,
)

MAI_B = Coverage(Insurer.FONASA, FonasaTramo.B, Modality.MAI)
MLE_C = Coverage(Insurer.FONASA, FonasaTramo.C, Modality.MLE)
ISAPRE_70 = Coverage(Insurer.ISAPRE, percent=70)


@pytest.mark.parametrize("tramo", list(FonasaTramo))
def test_fonasa_mai_is_copay_free_for_every_tramo(tramo: FonasaTramo) -> None:
    assert split(35_000, Coverage(Insurer.FONASA, tramo, Modality.MAI)).patient == 0


def test_fonasa_mle_pays_half_and_tramo_a_cannot_use_it() -> None:
    assert (split(30_001, MLE_C).insurer, split(30_001, MLE_C).patient) == (15_000, 15_001)
    assert split(30_000, MLE_C).insurer == 15_000
    with pytest.raises(CoverageRuleError, match="tramo A"):
        split(30_000, Coverage(Insurer.FONASA, FonasaTramo.A, Modality.MLE))


def test_isapre_plan_percentage_rounds_the_insurer_down() -> None:
    assert split(10_001, ISAPRE_70).insurer == 7_000
    assert split(10_001, ISAPRE_70).patient == 3_001


def test_no_coverage_means_the_patient_pays_all() -> None:
    assert split(25_000, PARTICULAR).patient == 25_000


@pytest.mark.parametrize("bad", [-1, 10.5, True, "100"])
def test_amounts_are_whole_non_negative_pesos(bad: object) -> None:
    with pytest.raises(CoverageRuleError):
        split(bad, PARTICULAR)  # type: ignore[arg-type]


def test_incomplete_coverages_are_refused() -> None:
    with pytest.raises(CoverageRuleError):
        split(1_000, Coverage(Insurer.FONASA))
    with pytest.raises(CoverageRuleError):
        split(1_000, Coverage(Insurer.ISAPRE, percent=120))


coverages = st.sampled_from(
    [MAI_B, MLE_C, ISAPRE_70, PARTICULAR, Coverage(Insurer.DIPRECA, percent=85)]
)


@given(st.lists(st.integers(min_value=0, max_value=5_000_000), max_size=12), coverages)
def test_shares_always_add_up_to_the_exact_total(amounts: list[int], coverage: Coverage) -> None:
    lines, total = split_lines(amounts, coverage)
    assert all(
        line.insurer + line.patient == amount for line, amount in zip(lines, amounts, strict=True)
    )
    assert total.insurer + total.patient == sum(amounts)
    assert all(line.insurer >= 0 and line.patient >= 0 for line in lines)


def test_invoice_status_follows_the_allocations() -> None:
    assert invoice_status(10_000, 0, voided=False) == "issued"
    assert invoice_status(10_000, 4_000, voided=False) == "partially-paid"
    assert invoice_status(10_000, 10_000, voided=False) == "paid"
    assert invoice_status(0, 0, voided=False) == "paid"
    assert invoice_status(10_000, 0, voided=True) == "void"
