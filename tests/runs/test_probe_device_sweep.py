"""``sweep(device=...)`` (the CLI's ``--device``) reaches the probe fits, not only the
encoder: every linear fit of the cells, of the CV behind ``ensemble`` and of the ECFP
baseline runs inside ``probe_device(device)``; ``device="cpu"`` writes the same tables as the
default, byte for byte. Untested on a GPU (none on the test machines)."""

from __future__ import annotations

import molstrata.probe.cv as cv_mod
import molstrata.probe.device as device_mod
import molstrata.probe.linear as linear_mod
from molstrata.runs import sweep

TASKS = "hia_hou,caco2_wang"
TABLES = ("probe_results.csv", "summary.csv", "selection.csv", "baseline.csv")


def _spy(monkeypatch, seen):
    basis_init, folds_init = linear_mod._Basis.__init__, cv_mod._FoldStats.__init__

    def basis(self, *a, **k):
        seen.append(("fit", device_mod._DEVICE.get()))
        basis_init(self, *a, **k)

    def folds(self, *a, **k):
        seen.append(("cv", device_mod._DEVICE.get()))
        folds_init(self, *a, **k)

    monkeypatch.setattr(linear_mod._Basis, "__init__", basis)
    monkeypatch.setattr(cv_mod._FoldStats, "__init__", folds)


def test_sweep_device_reaches_every_probe_fit_and_keeps_the_tables(hash_encoder, data_dir, tmp_path,
                                                                    monkeypatch):
    common = dict(data_dir=data_dir, report=False, progress=False, baseline="ecfp")
    sweep([hash_encoder], TASKS, [1], out=tmp_path / "default", **common)
    seen: list[tuple[str, str | None]] = []
    with monkeypatch.context() as m:
        _spy(m, seen)
        sweep([hash_encoder], TASKS, [1], out=tmp_path / "cpu", device="cpu", use_cache=False, **common)
    assert {kind for kind, _ in seen} == {"fit", "cv"}
    assert {dev for _, dev in seen} == {"cpu"}, seen  # set explicitly, not the default
    for name in TABLES:
        assert (tmp_path / "cpu" / name).read_bytes() == (tmp_path / "default" / name).read_bytes(), name
    # the same run: an explicit CPU keeps the cells' keys (a GPU would add its device to them)
    keys = [p.relative_to(tmp_path / "default") for p in (tmp_path / "default" / "cells").rglob("key.json")]
    assert keys and all((tmp_path / "cpu" / k).read_bytes() == (tmp_path / "default" / k).read_bytes()
                        for k in keys)
