"""Replication positions compared as the engines define them (pure)."""

import pytest

from medsys.failover.positions import PositionError, covers, notation


def test_lsns_compare_as_byte_offsets_not_text() -> None:
    assert covers("16/B374D848", "16/B374D848")
    assert covers("1A/0", "9/FFFFFFFF"), "hex and the high word count, not string order"
    assert not covers("0/2FFFFFF", "0/3000000")


def test_a_replica_holds_the_greater_of_what_it_received_and_applied() -> None:
    assert covers("0/3000000,0/5000000", "0/4000000")
    assert covers("0-1-10,0-1-50", "0-1-42")


def test_mariadb_gtids_compare_per_domain_whoever_wrote_them() -> None:
    assert covers("0-2-101", "0-1-100"), "a new primary continues the domain's sequence"
    assert not covers("0-1-99", "0-1-100")
    assert not covers("0-1-500", "0-1-100,1-3-5"), "a domain missing is not covered"
    assert covers("0-1-500, 1-3-7", "0-1-100,1-3-5")


def test_mysql_gtid_sets_compare_by_inclusion() -> None:
    source = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
    assert covers(f"{source}:1-100", f"{source}:1-57")
    assert covers(f"{source}:1-50:51-100", f"{source}:40-60"), "adjacent intervals join"
    assert not covers(f"{source}:1-50:52-100", f"{source}:1-60"), "a gap is a lost commit"
    assert covers(f"{source.upper()}:1-5", f"{source}:3")
    assert not covers(f"{source}:1-5", f"{source}:1-5,{source}:tag_a:1")
    assert covers(f"{source}:1-5:tag_a:1-2", f"{source}:tag_a:2")


def test_empty_needs_nothing_and_holds_nothing() -> None:
    assert covers("", "")
    assert covers("0-1-5", "")
    assert not covers("", "0-1-5")


def test_unknown_or_mixed_notations_are_errors_not_guesses() -> None:
    with pytest.raises(PositionError):
        notation("yesterday")
    with pytest.raises(PositionError):
        covers("0/5", "0-1-5")
    assert notation("0/5") == "lsn" and notation("0-1-5") == "mariadb-gtid"
