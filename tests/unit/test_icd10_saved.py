"""The ICD-10 list saved by `medsys up` is the list built from the package, and a
serving process reads it instead of building it (about 2 s of CPU per process)."""

from pathlib import Path

import pytest

from medsys.clinical import icd10


@pytest.fixture
def fresh_catalogue() -> object:
    icd10._catalogue.cache_clear()
    icd10._by_code.cache_clear()
    yield
    icd10._catalogue.cache_clear()
    icd10._by_code.cache_clear()
    icd10._saved_in = None


def test_the_saved_list_reads_back_as_the_built_one(
    tmp_path: Path, fresh_catalogue: object
) -> None:
    path = icd10.save(tmp_path)
    assert path == icd10.saved_file(tmp_path) and path.stat().st_mode & 0o777 == 0o644
    saved = icd10.read_saved(path)
    assert saved is not None and len(saved) > 10_000
    assert len({entry.code for entry, _ in saved}) == len(saved)
    title = "Acute upper respiratory infection, unspecified"
    assert (icd10.Entry("J06.9", title), f"j06.9 {title.lower()}") in saved
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no scratch file left

    written = path.stat().st_mtime_ns
    assert icd10.save(tmp_path) == path and path.stat().st_mtime_ns == written  # kept

    # A serving process reads the file: what it finds is the file's, not a rebuild.
    path.write_text("J06.9\tSaved title\tj06.9 saved title\n", encoding="utf-8")
    icd10.warm(tmp_path)
    assert icd10.entry("j06.9") == icd10.Entry("J06.9", "Saved title")
    assert icd10.search("saved") == [icd10.Entry("J06.9", "Saved title")]


@pytest.mark.parametrize("text", ["", "J06.9\tonly two\n", "J06.9\ta\tb\nI10\n"])
def test_a_damaged_file_is_not_read(tmp_path: Path, text: str) -> None:
    path = icd10.saved_file(tmp_path)
    path.write_text(text, encoding="utf-8")
    assert icd10.read_saved(path) is None
    assert icd10.read_saved(tmp_path / "missing.tsv") is None
