"""medsys status lists the node data that failovers and adoptions moved aside."""

from __future__ import annotations

from pathlib import Path

from medsys.launcher.cli import render_kept_aside
from medsys.launcher.kept_aside import kept_aside


def test_set_aside_folders_are_listed_with_their_size(tmp_path: Path) -> None:
    (tmp_path / "mariadb-master").mkdir()  # a live node: not listed
    (tmp_path / "mariadb-master" / "ibdata1").write_bytes(b"x" * 4096)
    diverged = tmp_path / "mariadb-master.diverged-20261205T170858"
    (diverged / "medsys").mkdir(parents=True)
    (diverged / "ibdata1").write_bytes(b"x" * 2**20)
    (diverged / "medsys" / "t.ibd").write_bytes(b"x" * 2**20)
    replaced = tmp_path / "postgres_primary.replaced-20261201T080000"
    replaced.mkdir()
    (tmp_path / "notes.diverged-x.txt").write_text("a file, not a data folder")

    found = kept_aside(tmp_path)
    assert [kept.path for kept in found] == [diverged, replaced]
    assert [kept.size_bytes for kept in found] == [2 * 2**20, 0]
    text = render_kept_aside(found)
    assert text.startswith("data kept aside: 2 folder(s), 2 MiB")
    assert f"{diverged}  2 MiB" in text and "remove each by hand" in text


def test_nothing_kept_aside_says_so(tmp_path: Path) -> None:
    assert render_kept_aside(kept_aside(tmp_path)) == "data kept aside: none"
    assert kept_aside(tmp_path / "no-such-folder") == []
