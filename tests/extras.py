"""Skip a test only because an optional package is absent, never because it failed.

``MOLSTRATA_REQUIRE_EXTRAS=1`` (set by ``.ci/run``, which installs every extra) turns such
a skip into a failure, so CI cannot pass by skipping.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

import pytest


def installed_or_skip(module: str, what: str) -> None:
    """Skip (or fail under ``MOLSTRATA_REQUIRE_EXTRAS=1``) unless ``module`` is importable."""
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is absent
        found = False
    if found:
        return
    message = f"{what} needs the package {module!r}, which is not installed"
    if os.environ.get("MOLSTRATA_REQUIRE_EXTRAS") == "1":
        pytest.fail(f"{message} (MOLSTRATA_REQUIRE_EXTRAS=1)")
    pytest.skip(message, allow_module_level=True)


def import_or_skip(module: str, what: str) -> ModuleType:
    """``module`` imported, after :func:`installed_or_skip` (so a missing extra fails in CI)."""
    installed_or_skip(module, what)
    return importlib.import_module(module)
