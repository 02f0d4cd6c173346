"""The speed changes of issue 22 leave the probe tables unchanged: a sweep on three tasks
(regression, roc-auc, pr-auc) through the reference path (scikit-learn's
``average_precision_score`` per column, eigenvectors in the column-major layout ``eigh``
returns) and through the fast path gives the same selections and scores within the issue's
tolerances (ridge 1e-9 relative, logistic 1e-4 of the metric)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import molstrata.probe._rows as rows_mod
import molstrata.probe.cv as cv_mod
import molstrata.probe.linear as linear_mod
import molstrata.probe.scoring as scoring_mod
from molstrata.runs import sweep

TASKS = "caco2_wang,hia_hou,cyp2d6_substrate_carbonmangels"


def _column_major(V):
    return V.transpose(1, 2).contiguous().transpose(1, 2)


def _reference_path(monkeypatch) -> None:
    """The code paths before the speed changes, patched back in."""
    from sklearn.metrics import average_precision_score

    monkeypatch.setattr(scoring_mod, "_average_precision_columns", lambda y, p: np.array(
        [average_precision_score(y, p[:, j]) for j in range(p.shape[1])]), raising=False)
    init = linear_mod._Basis.__init__

    def basis_init(self, X, fast_eigh=False):
        init(self, X)  # float64 eigenbasis whatever the width
        self.V = _column_major(self.V)

    monkeypatch.setattr(linear_mod._Basis, "__init__", basis_init)
    monkeypatch.setattr(rows_mod, "SPARSE_DENSITY", -1.0, raising=False)  # dense products
    fold_basis = cv_mod._FoldStats.basis

    def fold(self, use, with_rows):
        basis, ybar, c = fold_basis(self, use, with_rows)
        basis.V = _column_major(basis.V)
        return basis, ybar, c

    monkeypatch.setattr(cv_mod._FoldStats, "basis", fold)


def test_fast_path_tables_match_the_reference_path(hash_encoder, data_dir, tmp_path, monkeypatch):
    fast = sweep([hash_encoder], TASKS, [1], out=tmp_path / "fast", data_dir=data_dir, report=False,
                 progress=False, strategy="all")
    with monkeypatch.context() as m:
        _reference_path(m)
        ref = sweep([hash_encoder], TASKS, [1], out=tmp_path / "ref", data_dir=data_dir, report=False,
                    progress=False, strategy="all")
    assert [s.selected_layer for s in fast.scores] == [s.selected_layer for s in ref.scores]
    assert [(c.strategy, c.label) for c in fast.selections] == [(c.strategy, c.label) for c in ref.selections]
    a = pd.read_csv(tmp_path / "fast" / "probe_results.csv")
    b = pd.read_csv(tmp_path / "ref" / "probe_results.csv")
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for col in a.columns:
        if a[col].dtype.kind != "f":
            assert a[col].tolist() == b[col].tolist(), col
    for task, g in a.groupby("task"):
        h = b[b.task == task]
        tol = dict(rtol=1e-9, atol=0) if task == "caco2_wang" else dict(rtol=0, atol=1e-4)
        np.testing.assert_allclose(g["score"].to_numpy(), h["score"].to_numpy(), **tol, err_msg=task)
    sa = pd.read_csv(tmp_path / "fast" / "selection.csv")
    sb = pd.read_csv(tmp_path / "ref" / "selection.csv")
    assert sa.drop(columns=[c for c in sa.columns if sa[c].dtype.kind == "f"]).equals(
        sb.drop(columns=[c for c in sb.columns if sb[c].dtype.kind == "f"]))
    np.testing.assert_allclose(sa.select_dtypes("float").to_numpy(), sb.select_dtypes("float").to_numpy(),
                               rtol=1e-6, atol=1e-4)
