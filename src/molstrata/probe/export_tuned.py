"""The tuned heads (:mod:`molstrata.probe.tuned`) to plain arrays and back (saved format 2).

* ``mlp-tuned``: per input ``j``, the configuration chosen on valid (its grid index,
  ``hidden``, ``depth``, ``dropout``) and every averaged network ``i`` (``n_inits``): its
  state dict ``s<j>.m<i>.net.<name>`` (float32), its input standardisation
  ``s<j>.m<i>.mean`` / ``.std`` (d,) and its target scaling ``[y_mean, y_std]`` (JSON);
* ``gbdt-tuned``: per input, the chosen grid index and LightGBM's model text, as the
  ``gbdt`` kind stores it (``s<j>.lightgbm``, uint8).

:func:`check_tuned` refuses a description that does not match its arrays (missing, extra,
wrongly shaped or typed arrays, a member count that differs) with one line, before any
network is built; :func:`build_tuned_mlp` rebuilds the networks exactly as the probe built
them (:meth:`~molstrata.probe.tuned.DeepMLPProbe._build_net`).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from molstrata.core.errors import ConfigError

#: the kinds of this module (the saved format that introduced them: 2)
TUNED_KINDS = ("mlp-tuned", "gbdt-tuned")
#: largest depth a saved ``mlp-tuned`` network may declare (a guard against hostile files)
MAX_DEPTH = 64


def export_tuned(est: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A fitted TunedMLPProbe or TunedGBDTProbe as ``(meta, arrays)`` (see the module)."""
    from molstrata.probe.tuned import TunedMLPProbe

    name = type(est).__name__
    if not hasattr(est, "models_"):
        raise ConfigError(f"the {name} is not fitted; nothing to save")
    params = json.loads(json.dumps(est.get_params(), default=str))
    meta: dict[str, Any] = {"task_type": est.task_type, "n_inputs": len(est.models_), "params": params}
    configs = [int(i) for i in est.best_param_]
    if not isinstance(est, TunedMLPProbe):
        arrays = {}
        for j, model in enumerate(est.models_):
            text = model.booster_.model_to_string(num_iteration=model.best_iteration_ or None)
            arrays[f"s{j}.lightgbm"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()
        return {**meta, "kind": "gbdt-tuned", "configs": configs}, arrays
    arrays = {}
    inputs = []
    for j, members in enumerate(est.models_):
        head = members[0][0]
        scales = []
        for i, (_, (net, mean, std, y_mean, y_std)) in enumerate(members):
            for key, tensor in net.state_dict().items():
                arrays[f"s{j}.m{i}.net.{key}"] = np.ascontiguousarray(tensor.detach().cpu().numpy())
            arrays[f"s{j}.m{i}.mean"] = np.ascontiguousarray(mean)
            arrays[f"s{j}.m{i}.std"] = np.ascontiguousarray(std)
            scales.append([float(y_mean), float(y_std)])
        inputs.append({"config": configs[j], "hidden": int(head.hidden), "depth": max(1, int(head.depth)),
                       "dropout": float(head.dropout), "y_scale": scales})
    return {**meta, "kind": "mlp-tuned", "inputs": inputs}, arrays


def _int(value: Any, what: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low \
            or (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"saved probe: {what} must be an integer {bound}, got {value!r}")
    return int(value)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ConfigError(f"saved probe: {what} must be a finite number, got {value!r}")
    return float(value)


def _net_shapes(hidden: int, depth: int, d_in: int) -> dict[str, tuple[int, ...]]:
    """The state dict's names and shapes of ``DeepMLPProbe._build_net``'s network: ``depth``
    (Linear, ReLU, Dropout) blocks, then Linear(hidden, 1)."""
    shapes: dict[str, tuple[int, ...]] = {}
    width = d_in
    for b in range(depth):
        shapes[f"{3 * b}.weight"], shapes[f"{3 * b}.bias"] = (hidden, width), (hidden,)
        width = hidden
    shapes[f"{3 * depth}.weight"], shapes[f"{3 * depth}.bias"] = (1, hidden), (1,)
    return shapes


def _check_array(arrays: Mapping[str, np.ndarray], name: str, shape: tuple[int, ...], dtypes: tuple) -> None:
    if name not in arrays:
        raise ConfigError(f"saved probe: array {name!r} is missing")
    a = arrays[name]
    if a.shape != shape or a.dtype not in dtypes:
        raise ConfigError(f"saved probe: array {name!r} has shape {a.shape} and dtype {a.dtype}; "
                          f"expected {shape} {' or '.join(str(np.dtype(d)) for d in dtypes)}")


def _check_mlp_input(j: int, spec: Any, arrays: Mapping[str, np.ndarray]) -> set[str]:
    """Check input ``j``'s description and arrays; returns the array names it uses."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"saved probe: inputs[{j}] must be an object, got {type(spec).__name__}")
    hidden = _int(spec.get("hidden"), f"inputs[{j}].hidden", 1)
    depth = _int(spec.get("depth"), f"inputs[{j}].depth", 1, MAX_DEPTH)
    dropout = _number(spec.get("dropout"), f"inputs[{j}].dropout")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"saved probe: inputs[{j}].dropout must be in [0, 1), got {dropout!r}")
    scales = spec.get("y_scale")
    if not isinstance(scales, list) or not scales:
        raise ConfigError(f"saved probe: inputs[{j}].y_scale must be a non-empty list of [mean, std]")
    first = arrays.get(f"s{j}.m0.net.0.weight")
    if first is None or first.ndim != 2:
        raise ConfigError(f"saved probe: array 's{j}.m0.net.0.weight' is missing or not 2-D")
    d_in = int(first.shape[1])
    used: set[str] = set()
    for i, pair in enumerate(scales):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConfigError(f"saved probe: inputs[{j}].y_scale[{i}] must be [mean, std]")
        for v, what in zip(pair, ("mean", "std"), strict=True):
            _number(v, f"inputs[{j}].y_scale[{i}] {what}")
        for key, shape in _net_shapes(hidden, depth, d_in).items():
            _check_array(arrays, f"s{j}.m{i}.net.{key}", shape, (np.float32,))
            used.add(f"s{j}.m{i}.net.{key}")
        for key in ("mean", "std"):
            _check_array(arrays, f"s{j}.m{i}.{key}", (d_in,), (np.float32, np.float64))
            used.add(f"s{j}.m{i}.{key}")
    extra = sorted(k for k in arrays if k.startswith(f"s{j}.m{len(scales)}."))
    if extra:
        raise ConfigError(f"saved probe: inputs[{j}] lists {len(scales)} network(s) in y_scale but the "
                          f"arrays hold more (e.g. {extra[0]!r})")
    return used


def check_tuned(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Refuse (ConfigError, one line) a tuned head's description that its arrays do not match."""
    n = _int(meta.get("n_inputs"), "n_inputs", 1)
    key = "inputs" if meta["kind"] == "mlp-tuned" else "configs"
    specs = meta.get(key)
    if not isinstance(specs, list) or len(specs) != n:
        raise ConfigError(f"saved probe: {key} must be a list of n_inputs = {n} entries")
    used: set[str] = set()
    for j in range(n):
        if meta["kind"] == "mlp-tuned":
            used |= _check_mlp_input(j, specs[j], arrays)
        else:
            _int(specs[j], f"configs[{j}]", 0)
            a = arrays.get(f"s{j}.lightgbm")
            if a is None or a.ndim != 1 or a.dtype != np.uint8 or a.size == 0:
                raise ConfigError(f"saved probe: array 's{j}.lightgbm' is missing or not uint8 model text")
            used.add(f"s{j}.lightgbm")
    extra = sorted(set(arrays) - used)
    if extra:
        raise ConfigError(f"saved probe: unexpected array {extra[0]!r} ({len(extra)} in all)")


def build_tuned_mlp(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray], j: int) -> list[tuple]:
    """Input ``j``'s networks, rebuilt and loaded: a list of ``(net, mean, std, y_mean, y_std)``,
    as :meth:`~molstrata.probe.mlp.MLPProbe._predict_one` takes them (call
    :func:`check_tuned` first)."""
    import torch

    from molstrata.probe.tuned import DeepMLPProbe

    spec = meta["inputs"][j]
    arch = DeepMLPProbe(hidden=int(spec["hidden"]), depth=int(spec["depth"]), dropout=float(spec["dropout"]))
    members = []
    for i, (y_mean, y_std) in enumerate(spec["y_scale"]):
        prefix = f"s{j}.m{i}.net."
        state = {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(prefix)}
        net = arch._build_net(int(state["0.weight"].shape[1]))
        net.load_state_dict(state)
        net.eval()
        members.append((net, arrays[f"s{j}.m{i}.mean"], arrays[f"s{j}.m{i}.std"], float(y_mean), float(y_std)))
    return members


def predict_members(task_type: str, members: list[tuple], X: np.ndarray) -> np.ndarray:
    """The mean of the networks' predictions on ``X`` (n, d): (n,), as
    :meth:`~molstrata.probe.tuned.TunedMLPProbe._predict_one` computes it."""
    from molstrata.probe.mlp import MLPProbe

    helper = MLPProbe(task_type=task_type)
    return np.mean([helper._predict_one(m, X) for m in members], axis=0)
