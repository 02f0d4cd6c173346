"""``tests/extras.py``: a test is skipped only when an optional package is absent, and that
skip becomes a failure under ``MOLSTRATA_REQUIRE_EXTRAS=1`` (as ``.ci/run`` sets it)."""

from __future__ import annotations

import pytest

from extras import import_or_skip, installed_or_skip

ABSENT = "molstrata_no_such_package_xyz"


def test_an_installed_package_neither_skips_nor_fails(monkeypatch):
    monkeypatch.setenv("MOLSTRATA_REQUIRE_EXTRAS", "1")
    assert installed_or_skip("numpy", "this test") is None


def test_an_absent_package_skips_naming_it(monkeypatch):
    monkeypatch.delenv("MOLSTRATA_REQUIRE_EXTRAS", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"needs the package '{ABSENT}'"):
        installed_or_skip(ABSENT, "the probe contract")


def test_an_absent_package_fails_when_extras_are_required(monkeypatch):
    monkeypatch.setenv("MOLSTRATA_REQUIRE_EXTRAS", "1")
    with pytest.raises(pytest.fail.Exception, match="MOLSTRATA_REQUIRE_EXTRAS=1"):
        installed_or_skip(ABSENT, "the probe contract")


def test_import_or_skip_returns_the_module(monkeypatch):
    monkeypatch.setenv("MOLSTRATA_REQUIRE_EXTRAS", "1")
    assert import_or_skip("numpy", "this test").__name__ == "numpy"


def test_an_absent_parent_package_skips_or_fails_like_any_absent_one(monkeypatch):
    monkeypatch.delenv("MOLSTRATA_REQUIRE_EXTRAS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs the package"):
        import_or_skip(f"{ABSENT}.sub.module", "this test")
    monkeypatch.setenv("MOLSTRATA_REQUIRE_EXTRAS", "1")
    with pytest.raises(pytest.fail.Exception, match="MOLSTRATA_REQUIRE_EXTRAS=1"):
        import_or_skip(f"{ABSENT}.sub.module", "this test")
