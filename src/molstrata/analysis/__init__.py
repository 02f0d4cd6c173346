"""Label-free information-flow analysis across an encoder's depth.

Entry point: :func:`analyze` → :class:`DepthProfile`. The metrics (matrix entropy,
effective rank, token and depth curvature, linear CKA, InfoNCE, LiDAR, DiME) are plain
functions on numpy or torch arrays; :func:`recommend_layer` picks a layer from metrics alone.
"""

from molstrata.analysis.augment import AUGMENTATIONS, augmented_views, randomized_smiles
from molstrata.analysis.cka import cka_matrix, hsic_unbiased, linear_cka, minibatch_cka
from molstrata.analysis.curvature import depth_curvature, token_curvature, trajectory_curvature
from molstrata.analysis.entropy import (
    dataset_entropy,
    effective_rank,
    gram_spectrum,
    matrix_entropy,
    token_entropy,
)
from molstrata.analysis.invariance import dime, infonce, infonce_loss, lidar
from molstrata.analysis.outputs import write_outputs
from molstrata.analysis.profile import METRICS, DepthProfile, analyze
from molstrata.analysis.recommend import (
    RULES,
    metric_probe_correlation,
    recommend_layer,
    regret_table,
)

__all__ = [
    "AUGMENTATIONS",
    "METRICS",
    "RULES",
    "DepthProfile",
    "analyze",
    "augmented_views",
    "cka_matrix",
    "dataset_entropy",
    "depth_curvature",
    "dime",
    "effective_rank",
    "gram_spectrum",
    "hsic_unbiased",
    "infonce",
    "infonce_loss",
    "lidar",
    "linear_cka",
    "matrix_entropy",
    "metric_probe_correlation",
    "minibatch_cka",
    "randomized_smiles",
    "recommend_layer",
    "regret_table",
    "token_curvature",
    "token_entropy",
    "trajectory_curvature",
    "write_outputs",
]
