"""How far issue #22's "50x the skilled scikit-learn loop" can go on the ridge tasks.

Side by side in one run, one thread, on the row counts of the three regression tasks of
``probe_sweep.py``'s default comparison (caco2_wang, ppbr_az, lipophilicity_astrazeneca, seed
1) and of the largest ADMET training set (ames, for the trend), 7 layers x 256 features of
Gaussian noise (a ridge fit's cost does not depend on the values):

* **sklearn**: ``probe_sweep.sklearn_layer_loop``, the skilled loop of the issue's benchmark
  (``StandardScaler`` once per layer, then ``Ridge(alpha)`` per value of molstrata's 13-value
  grid, scored on valid);
* **molstrata**: ``LinearProbe(task_type="regression").fit(layers, y, X_valid=, y_valid=)``, the
  whole per-layer sweep with its choice on valid;
* **Gram f64 / f32**: the product ``X^T X`` of each layer alone (no standardisation, no
  solve, no scoring), in float64 and in float32. Every exact ridge path pays at least one such
  product per layer (or a factorisation that costs more), so ``sklearn / Gram`` is a ceiling on
  the ratio any implementation of the same fits can reach on these shapes.

Each side is timed ``--repeats`` times (CPU time of this process, the minimum kept).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/ridge_ceiling.py
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
from probe_sweep import sklearn_layer_loop  # this folder: the issue's own skilled loop

#: (task, n_train, n_valid) of seed 1's TDC split
SHAPES = (("caco2_wang", 637, 91), ("ppbr_az", 1952, 279), ("lipophilicity_astrazeneca", 2940, 420),
          ("ames (logistic in the sweep)", 5093, 728))


def _min_cpu(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def _time_shape(X: np.ndarray, Xv: np.ndarray, y: np.ndarray, yv: np.ndarray,
                repeats: int) -> tuple[float, float, float, float]:
    """CPU s of the sklearn loop, molstrata's sweep, the float64 and float32 Gram products,
    for X (L, n, d) and Xv (L, n_valid, d)."""
    from molstrata.probe.linear import DEFAULT_ALPHAS, LinearProbe

    data = SimpleNamespace(train=list(X), valid=list(Xv), y_train=y, y_valid=yv)
    grid = np.asarray(DEFAULT_ALPHAS)
    X32 = X.astype(np.float32)
    return (_min_cpu(lambda: sklearn_layer_loop(data, "regression", "mae", grid), repeats),
            _min_cpu(lambda: LinearProbe(task_type="regression").fit(
                list(X), y, X_valid=list(Xv), y_valid=yv), repeats),
            _min_cpu(lambda: [x.T @ x for x in X], repeats),
            _min_cpu(lambda: [x.T @ x for x in X32], repeats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=7)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import threadpoolctl
    import torch

    from molstrata.probe.linear import DEFAULT_ALPHAS

    threadpoolctl.threadpool_limits(1)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    L, d = args.layers, args.dim
    print(f"{L} layers x {d} features, {len(DEFAULT_ALPHAS)} ridge penalties, 1 thread, CPU s (min of {args.repeats})")
    for task, n, nv in SHAPES:
        X, Xv = rng.standard_normal((L, n, d)), rng.standard_normal((L, nv, d))
        y, yv = rng.standard_normal(n), rng.standard_normal(nv)
        sk, ms, g64, g32 = _time_shape(X, Xv, y, yv, args.repeats)
        print(f"{task:30s} n={n:5d}: sklearn {sk:6.3f} s | molstrata {ms:6.3f} s -> x{sk / ms:5.1f} | "
              f"Gram alone f64 {g64 * 1e3:5.1f} ms -> ceiling x{sk / g64:5.1f}, f32 {g32 * 1e3:5.1f} ms "
              f"-> ceiling x{sk / g32:5.1f}")


if __name__ == "__main__":
    main()
