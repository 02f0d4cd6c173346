"""``import molstrata.encoders`` and ``molstrata encoders`` load no torch (#18): listing the
registered encoders reads their cards without importing model code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import molstrata

SRC = str(Path(molstrata.__file__).resolve().parents[1])

CHECKS = {
    "import molstrata.encoders": "import molstrata.encoders",
    "listing the cards": "from molstrata.cli.encoders import encoder_rows; encoder_rows()",
    "molstrata encoders": (
        "import sys; sys.argv = ['molstrata', 'encoders', '--json']\n"
        "from molstrata.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    ),
}


def heavy_modules_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter on this checkout; return which of torch,
    transformers and the 3D packages it imported."""
    probe = (
        f"{code}\nimport sys\n"
        "print('LOADED', *sorted(m for m in ('torch', 'transformers', 'unimol_tools', "
        "'orb_models', 'chemprop') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                         check=True, timeout=300)
    line = [x for x in out.stdout.splitlines() if x.startswith("LOADED")][-1]
    return line.split()[1:]


@pytest.mark.parametrize("what", list(CHECKS))
def test_loads_no_torch(what):
    assert heavy_modules_after(CHECKS[what]) == [], what


def test_the_check_sees_torch():
    """The probe above is able to fail: loading an adapter does import torch."""
    assert "torch" in heavy_modules_after("import molstrata.encoders.graph.gin")
