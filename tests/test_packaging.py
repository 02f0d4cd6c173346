"""Issue 20, packaging: pyproject.toml declares what the code imports and nothing it does not
(pyarrow, tqdm), the transformers floor the code needs, an SPDX license string, and keeps
the pretraining-curve PNGs out of the wheel."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "molstrata"


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _imports(module: str) -> bool:
    pattern = re.compile(rf"^\s*(import|from)\s+{module}\b", re.M)
    return any(pattern.search(p.read_text()) for p in SRC.rglob("*.py"))


def _requirement(project: dict, name: str) -> str | None:
    for req in project["project"]["dependencies"]:
        if re.match(rf"{name}\b", req.split(";")[0].strip(), re.I):
            return req
    return None


def test_license_is_an_spdx_string(project):
    assert isinstance(project["project"]["license"], str)
    assert project["project"]["license"] == "MIT"


@pytest.mark.parametrize("module", ["pyarrow", "tqdm"])
def test_declared_iff_used(project, module):
    declared = _requirement(project, module) is not None
    used = _imports(module) or module == "tqdm" and "progressbar=True" in (SRC / "data" / "_source.py").read_text()
    assert declared == used, (module, declared, used)


def test_transformers_floor_has_the_dtype_keyword(project):
    req = _requirement(project, "transformers")
    floor = re.search(r">=\s*([\d.]+)", req)[1]
    assert tuple(int(x) for x in floor.split(".")[:2]) >= (4, 56), req  # from_pretrained(dtype=)
    assert re.search(r"from_pretrained\([^)]*\bdtype=|\bdtype=torch_dtype",
                     (SRC / "encoders" / "smiles" / "hf.py").read_text())


def test_curve_pngs_stay_out_of_the_wheel(project):
    data = project["tool"]["setuptools"]
    include = data.get("package-data", {}).get("molstrata", [])
    exclude = data.get("exclude-package-data", {}).get("molstrata", [])
    pngs = [p.relative_to(SRC).as_posix() for p in SRC.rglob("curves*.png")]
    assert pngs, "the shipped models' curves are in the source tree"
    for png in pngs:
        shipped = any(fnmatch.fnmatch(png, pat) for pat in include)
        dropped = any(fnmatch.fnmatch(png, pat) for pat in exclude)
        assert not shipped or dropped, png
    weights = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.safetensors")]
    assert all(any(fnmatch.fnmatch(w, pat) for pat in include) for w in weights)
