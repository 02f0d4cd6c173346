"""Target handling: regression targets standardised on the training split only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from molstrata.core.errors import ConfigError


@dataclass(frozen=True)
class TargetScaler:
    """Standardise regression targets with the training split's mean and std.

    Fit on ``split.train`` only; predictions are mapped back with
    :meth:`inverse_transform` before any score is computed. For classification the scaler
    is the identity (``mean=0, scale=1``).

    Attributes
    ----------
    mean : float
    scale : float, the population std of the training targets (1.0 if they are constant)
    """

    mean: float = 0.0
    scale: float = 1.0

    @classmethod
    def fit(cls, y: np.ndarray, task_type: str = "regression") -> TargetScaler:
        """Fit on training targets ``y`` of shape (n_molecules,)."""
        y = np.asarray(y, dtype=np.float64)
        if y.size == 0:
            raise ConfigError("cannot fit a target scaler on an empty training set")
        if not np.isfinite(y).all():
            bad = np.flatnonzero(~np.isfinite(y))[:10].tolist()
            raise ConfigError(f"training targets contain NaN/inf at rows {bad}")
        if task_type != "regression":
            return cls()
        mean, scale = float(y.mean()), float(y.std())
        # constant targets (up to round-off, as scikit-learn's StandardScaler judges it)
        if scale <= 10 * np.finfo(np.float64).eps * max(abs(mean), 1e-300):
            scale = 1.0
        return cls(mean, scale)

    def transform(self, y: np.ndarray) -> np.ndarray:
        """(y - mean) / scale, float32, same shape as ``y``."""
        return ((np.asarray(y, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """z * scale + mean, float64, same shape as ``z``."""
        return np.asarray(z, dtype=np.float64) * self.scale + self.mean
