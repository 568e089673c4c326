import pytest

from tests.vectors import SHARED_DIR, VECTORS_DIR


def test_copy_matches_shared_original() -> None:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"no shared vectors at {SHARED_DIR} to compare the copy with (a standalone clone)")
    for original in SHARED_DIR.iterdir():
        copy = VECTORS_DIR / original.name
        assert copy.read_bytes() == original.read_bytes(), f"{copy} differs from {original}"
