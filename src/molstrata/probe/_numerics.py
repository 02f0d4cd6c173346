"""The version of the linear probes' numerics, one constant for the whole probe stage.

It is part of the encoder cells' key (:func:`molstrata.runs._cells._cell_key`) and of every
cached CV / concat / mix file (:mod:`molstrata.probe.strategies`), so a run folder or a cache
written by other numerics (other round-off) is recomputed, never mixed with new results.

History: "1" (no entry in the keys): eigendecompositions for every ridge grid, float64
logistic fits; "3" (session 30): the ridge grids from one tridiagonal reduction
(:mod:`molstrata.probe.ridge_path`) and the two-precision logistic fits
(:mod:`molstrata.probe._logistic`). ("2" named each of those two changes alone on its
development branch; it is skipped so that no folder written there is taken for current.)
"""

from __future__ import annotations

#: bump whenever a change moves any bit of a linear probe's or of its CV's results
NUMERICS = "3"

#: the numerics of the linear probe on sparse count rows (:mod:`molstrata.probe._sparse`: the
#: ECFP4 baseline's cells, whose key holds it, :mod:`molstrata.runs._baseline`); bump it with
#: any change that moves a bit of those fits (a change of :data:`NUMERICS` that reaches the
#: sparse routes included). History: none in the keys (to session 30): eigendecompositions
#: for the ridge grids, a float64 L-BFGS; "sparse-2" (session 31): the ridge grids from one
#: tridiagonal reduction, the two-precision logistic fits on float32 CSR rows.
SPARSE_NUMERICS = "sparse-2"
