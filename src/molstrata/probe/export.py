"""Fitted probes to plain arrays and back: what a saved predictor is made of.

:func:`export_probe` turns a fitted :class:`~molstrata.probe.linear.LinearProbe`,
:class:`~molstrata.probe.mlp.MLPProbe` or :class:`~molstrata.probe.gbdt.GBDTProbe` into a
JSON-able description and a flat ``name -> ndarray`` dict (written as safetensors; no
pickle anywhere); :class:`SavedProbe` rebuilds it and predicts exactly as the fitted probe
did: the same operations on the same arrays, so the same bytes for the same input rows.

* linear: per group of equal-width layers, the prediction weights of the whole
  regularisation grid on raw features ``w`` (L, d, n_grid) (the standardisation folded in,
  computed as :meth:`~molstrata.probe.linear._Basis.apply` does), the training means
  (L, 1, d), the intercepts (L, n_grid) and the chosen grid point per layer;
* mlp: per layer, the network's state dict, the input standardisation and the target scaling;
* gbdt: per layer, LightGBM's own model text (``Booster.model_to_string``), as uint8 bytes;
* mlp-tuned, gbdt-tuned (format 2): the tuned heads, :mod:`molstrata.probe.export_tuned`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from molstrata.core.errors import ConfigError
from molstrata.probe.export_tuned import (
    TUNED_KINDS,
    build_tuned_mlp,
    check_tuned,
    export_tuned,
    predict_members,
)

#: bump when the exported layout changes: 2 added the kinds mlp-tuned and gbdt-tuned
EXPORT_FORMAT = 2
#: the formats read: a file says the oldest format that holds its kind (:func:`format_of`)
READ_FORMATS = (1, 2)
#: every kind of saved probe
KINDS = ("linear", "mlp", "gbdt", *TUNED_KINDS)


def format_of(kind: str) -> int:
    """The saved format a probe of ``kind`` is written with: 1 for linear, mlp and gbdt (the
    layout of format 1, readable by molstrata versions before the tuned heads), else 2."""
    return 2 if kind in TUNED_KINDS else 1


def export_probe(est: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A fitted probe as ``(meta, arrays)``: JSON-able settings and named arrays.

    Parameters
    ----------
    est : a fitted LinearProbe, MLPProbe, GBDTProbe, TunedMLPProbe or TunedGBDTProbe on
        n_inputs layer arrays

    Returns
    -------
    meta : dict with ``kind``, ``task_type``, ``n_inputs``, ``dims`` and the kind's settings
    arrays : dict name -> ndarray (safetensors-compatible: numeric, C-contiguous)
    """
    from molstrata.probe.gbdt import GBDTProbe
    from molstrata.probe.linear import LinearProbe
    from molstrata.probe.mlp import MLPProbe
    from molstrata.probe.tuned import TUNED_CLASSES

    if isinstance(est, tuple(TUNED_CLASSES.values())):
        return export_tuned(est)
    if isinstance(est, LinearProbe):
        return _export_linear(est)
    if isinstance(est, MLPProbe):
        return _export_mlp(est)
    if isinstance(est, GBDTProbe):
        return _export_gbdt(est)
    raise ConfigError(f"cannot save a {type(est).__name__}: only the probes {', '.join(KINDS)} "
                      "can be saved")


def _export_linear(est: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not hasattr(est, "_bases"):
        raise ConfigError("the LinearProbe is not fitted; nothing to save")
    arrays: dict[str, np.ndarray] = {}
    groups = []
    for g, (idx, basis, coef, icpt) in enumerate(est._bases):
        w = (basis.V @ coef) / basis.scale.transpose(1, 2)  # (L, d, n_grid), as _Basis.apply
        arrays[f"g{g}.w"] = np.ascontiguousarray(w.cpu().numpy())  # .cpu(): fitted on --device
        arrays[f"g{g}.mean"] = np.ascontiguousarray(basis.mean.cpu().numpy())
        arrays[f"g{g}.intercept"] = np.ascontiguousarray(icpt.cpu().numpy())
        groups.append([int(k) for k in idx])
    arrays["best_index"] = np.asarray(est.best_index_, dtype=np.int64)
    meta = {"kind": "linear", "task_type": est.task_type, "n_inputs": int(est.n_layers_),
            "groups": groups, "grid": [float(v) for v in est.grid_], "params": _params(est)}
    return meta, arrays


def _export_mlp(est: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not hasattr(est, "models_"):
        raise ConfigError("the MLPProbe is not fitted; nothing to save")
    arrays: dict[str, np.ndarray] = {}
    scales = []
    for j, (net, mean, std, y_mean, y_std) in enumerate(est.models_):
        for name, tensor in net.state_dict().items():
            arrays[f"s{j}.net.{name}"] = np.ascontiguousarray(tensor.detach().cpu().numpy())
        arrays[f"s{j}.mean"] = np.ascontiguousarray(mean)
        arrays[f"s{j}.std"] = np.ascontiguousarray(std)
        scales.append([float(y_mean), float(y_std)])
    meta = {"kind": "mlp", "task_type": est.task_type, "n_inputs": len(est.models_),
            "hidden": int(est.hidden), "dropout": float(est.dropout), "y_scale": scales,
            "params": _params(est)}
    return meta, arrays


def _export_gbdt(est: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not hasattr(est, "models_"):
        raise ConfigError("the GBDTProbe is not fitted; nothing to save")
    arrays = {}
    for j, model in enumerate(est.models_):
        text = model.booster_.model_to_string(num_iteration=model.best_iteration_ or None)
        arrays[f"s{j}.lightgbm"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()
    meta = {"kind": "gbdt", "task_type": est.task_type, "n_inputs": len(est.models_),
            "params": _params(est)}
    return meta, arrays


def _params(est: Any) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(est.get_params(), default=str))


class SavedProbe:
    """A probe rebuilt from :func:`export_probe`'s output; predicts as the fitted one did.

    Parameters
    ----------
    meta, arrays : as returned by :func:`export_probe` (e.g. read back from JSON and
        safetensors)
    """

    def __init__(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]):
        kind = meta.get("kind") if isinstance(meta, Mapping) else None
        if kind not in KINDS:
            raise ConfigError(f"saved probe of unknown kind {kind!r}; expected {', '.join(KINDS)}")
        if meta.get("task_type") not in ("regression", "classification"):
            raise ConfigError(f"saved probe: task_type {meta.get('task_type')!r}; expected regression "
                              "or classification")
        if kind in TUNED_KINDS:
            check_tuned(meta, arrays)
        self.meta = dict(meta)
        self.arrays = dict(arrays)
        self.kind = str(kind)
        self.task_type = str(meta["task_type"])
        self.n_inputs = int(meta["n_inputs"])
        self._models: list[Any] | None = None

    def predict(self, X: Sequence[np.ndarray]) -> np.ndarray:
        """Predictions of every input: ndarray (n_inputs, n_molecules); values for
        regression, probabilities of class 1 for classification.

        Parameters
        ----------
        X : n_inputs arrays (n_molecules, dim_k), as the probe was fitted on
        """
        X = [np.asarray(x) for x in X]
        if len(X) != self.n_inputs:
            raise ConfigError(f"got {len(X)} inputs, the saved probe takes {self.n_inputs}")
        if self.kind == "linear":
            return self._predict_linear(X)
        models = self._load_models()
        if self.kind == "mlp-tuned":
            return np.stack([predict_members(self.task_type, m, x) for m, x in zip(models, X, strict=True)])
        if self.kind == "mlp":
            from molstrata.probe.mlp import MLPProbe

            helper = MLPProbe(task_type=self.task_type)
            return np.stack([helper._predict_one(m, x) for m, x in zip(models, X, strict=True)])
        return np.stack([_predict_booster(b, x) for b, x in zip(models, X, strict=True)])

    def _predict_linear(self, X: list[np.ndarray]) -> np.ndarray:
        import torch

        n = X[0].shape[0]
        grid = np.empty((self.n_inputs, n, len(self.meta["grid"])))
        for g, idx in enumerate(self.meta["groups"]):
            Xt = torch.from_numpy(np.ascontiguousarray(np.stack([X[k] for k in idx]), dtype=np.float64))
            w = torch.from_numpy(self.arrays[f"g{g}.w"])
            mean = torch.from_numpy(self.arrays[f"g{g}.mean"])
            icpt = torch.from_numpy(self.arrays[f"g{g}.intercept"])
            out = (Xt @ w - mean @ w) + icpt[:, None, :]
            if self.task_type == "classification":
                out = torch.sigmoid(out)
            pred = out.numpy()
            for j, k in enumerate(idx):
                grid[k] = pred[j]
        best = np.asarray(self.arrays["best_index"], dtype=np.int64)
        return grid[np.arange(self.n_inputs), :, best]

    def _load_models(self) -> list[Any]:
        if self._models is None:
            try:
                self._models = [self._build(j) for j in range(self.n_inputs)]
            except (RuntimeError, ValueError, KeyError) as exc:  # torch's load_state_dict, ...
                raise ConfigError(f"saved {self.kind} probe: cannot rebuild it "
                                  f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]})") from exc
        return self._models

    def _build(self, j: int) -> Any:
        if self.kind == "mlp-tuned":
            return build_tuned_mlp(self.meta, self.arrays, j)
        if self.kind in ("gbdt", "gbdt-tuned"):
            try:
                import lightgbm as lgb
            except ImportError as exc:
                from molstrata.core.errors import OptionalDependencyError

                raise OptionalDependencyError("this predictor uses the gbdt probe, which needs "
                                              "LightGBM: pip install 'molstrata[gbdt]'") from exc
            try:
                return lgb.Booster(model_str=bytes(self.arrays[f"s{j}.lightgbm"]).decode("utf-8"))
            except lgb.basic.LightGBMError as exc:
                raise ValueError(f"input {j}: LightGBM cannot read the model text ({exc})") from exc
        import torch
        from torch import nn

        prefix = f"s{j}.net."
        state = {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in self.arrays.items()
                 if k.startswith(prefix)}
        d_in = state["0.weight"].shape[1]
        net = nn.Sequential(nn.Linear(d_in, int(self.meta["hidden"])), nn.ReLU(),
                            nn.Dropout(float(self.meta["dropout"])), nn.Linear(int(self.meta["hidden"]), 1))
        net.load_state_dict(state)
        net.eval()
        y_mean, y_std = self.meta["y_scale"][j]
        return net, self.arrays[f"s{j}.mean"], self.arrays[f"s{j}.std"], y_mean, y_std


def _predict_booster(booster: Any, X: np.ndarray) -> np.ndarray:
    """LightGBM's prediction (the probability of class 1 for a binary model): (n,)."""
    return np.asarray(booster.predict(X), dtype=np.float64)
