"""Reading chemprop v2 checkpoints safely, rebuilding their ``MPNN``, and finding ADMET-AI's.

chemprop checkpoints (``.pt`` from ``chemprop train``/``save_model``, Lightning ``.ckpt``)
are Python pickles holding model classes, not just tensors, and torch's weights-only
unpickler cannot rebuild them (Lightning's ``AttributeDict`` is a ``dict`` subclass). molstrata
reads them with :func:`molstrata.core.safeload.load_torch_restricted`: a zip-format file whose
pickle may name only the exact ``(module, qualified name)`` pairs of :data:`CHEMPROP_GLOBALS`
(chemprop's ``chemprop.nn`` classes, a few ``torch.nn`` modules, tensors, Lightning's
``AttributeDict``, torchmetrics helpers). Legacy (non-zip) torch files, TorchScript archives
and files naming anything else stop the load with
:class:`~molstrata.core.safeload.UntrustedFileError` before any of their code runs; they load
only with ``trust_checkpoint=True`` (CLI ``--trust-checkpoint``), which runs the full
unpickler: do that only for files you trust.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from molstrata.core.errors import ConfigError, DataNotFoundError, OptionalDependencyError

__all__ = [
    "ADMET_AI_GROUPS", "ADMET_AI_MODELS", "ADMET_AI_PIP", "CHEMPROP_GLOBALS", "CHEMPROP_PIP",
    "admet_ai_checkpoint", "build_mpnn", "load_checkpoint_dict",
]

CHEMPROP_PIP = "pip install 'molstrata[chemprop]'  (chemprop>=2.3,<2.4)"
ADMET_AI_PIP = "pip install --no-deps 'admet-ai==2.0.1'"
ADMET_AI_GROUPS = ("regression", "classification")
ADMET_AI_MODELS = 5  # model_0.pt .. model_4.pt per group (an ensemble)

def _require_chemprop() -> Any:
    try:
        import chemprop  # noqa: PLC0415
    except ImportError as exc:
        raise OptionalDependencyError(
            f"chemprop encoders need chemprop v2 ({exc}). Install it with: {CHEMPROP_PIP}"
        ) from exc
    if not str(chemprop.__version__).startswith("2."):
        raise OptionalDependencyError(
            f"chemprop encoders need chemprop v2, found {chemprop.__version__}. {CHEMPROP_PIP}"
        )
    return chemprop


# ---------------------------------------------------------------------------- safe loading
#: every ``(module, qualified name)`` a chemprop v2 checkpoint may name; nothing else is
#: resolved (no prefixes, no dotted names). chemprop 2.3's own ``chemprop.nn`` classes, the
#: torch and Lightning pieces its ``save_model``/Lightning checkpoints hold.
CHEMPROP_GLOBALS: tuple[tuple[str, str], ...] = (
    ("builtins", "set"), ("builtins", "frozenset"),
    ("__builtin__", "set"), ("__builtin__", "frozenset"),
    ("collections", "OrderedDict"),
    ("torch", "device"), ("torch", "Size"),
    *(("torch", t) for t in ("float16", "float32", "float64", "bfloat16", "int64", "int32",
                             "bool", "uint8", "int8", "int16")),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch.nn.modules.linear", "Linear"), ("torch.nn.modules.linear", "Identity"),
    ("torch.nn.modules.dropout", "Dropout"),
    ("torch.nn.modules.container", "Sequential"), ("torch.nn.modules.container", "ModuleList"),
    ("torch.nn.modules.batchnorm", "BatchNorm1d"),
    *(("torch.nn.modules.activation", a) for a in (
        "ReLU", "LeakyReLU", "PReLU", "Tanh", "ELU", "SELU", "Sigmoid", "Softplus", "Softmax",
    )),
    ("chemprop.nn.utils", "Activation"),
    ("chemprop.nn.message_passing.base", "BondMessagePassing"),
    ("chemprop.nn.message_passing.base", "AtomMessagePassing"),
    *(("chemprop.nn.agg", a) for a in (
        "MeanAggregation", "SumAggregation", "NormAggregation", "AttentiveAggregation",
    )),
    *(("chemprop.nn.predictors", p) for p in (
        "RegressionFFN", "MveFFN", "EvidentialFFN", "QuantileFFN", "BinaryClassificationFFN",
        "BinaryDirichletFFN", "MulticlassClassificationFFN", "MulticlassDirichletFFN",
        "SpectralFFN", "_Exp",
    )),
    ("chemprop.nn.ffn", "MLP"),
    *(("chemprop.nn.transforms", t) for t in ("ScaleTransform", "UnscaleTransform", "GraphTransform")),
    *(("chemprop.nn.metrics", m) for m in (
        "MSE", "MAE", "RMSE", "BoundedMSE", "BoundedMAE", "BoundedRMSE", "R2Score", "MVELoss",
        "EvidentialLoss", "PointQuantileLoss", "BCELoss", "CrossEntropyLoss", "BinaryMCCLoss",
        "BinaryMCCMetric", "MulticlassMCCLoss", "MulticlassMCCMetric", "BinaryAUROC",
        "BinaryAUPRC", "BinaryAccuracy", "BinaryF1Score", "DirichletLoss", "SID", "Wasserstein",
        "QuantileLoss",
    )),
    ("lightning.fabric.utilities.data", "AttributeDict"),
    ("torchmetrics.metric", "jit_distributed_available"),
    *(("torchmetrics.utilities.data", f) for f in (
        "dim_zero_sum", "dim_zero_cat", "dim_zero_mean", "dim_zero_max", "dim_zero_min",
    )),
)


def load_checkpoint_dict(path: str | Path, *, trust_checkpoint: bool = False) -> dict:
    """Read a chemprop v2 checkpoint into a dict, without running arbitrary pickled code.

    Without ``trust_checkpoint`` the file must be a zip-format torch file (not legacy, not
    TorchScript) whose pickle names only :data:`CHEMPROP_GLOBALS`
    (:func:`molstrata.core.safeload.load_torch_restricted`).

    Parameters
    ----------
    path : a ``.pt`` (``chemprop.models.save_model``) or Lightning ``.ckpt`` file
    trust_checkpoint : use the full unpickler (runs any code in the file): trusted files only

    Returns
    -------
    dict with at least ``hyper_parameters`` and ``state_dict``
    """
    from molstrata.core.safeload import TRUST_OPT_IN, load_torch_restricted  # noqa: PLC0415

    _require_chemprop()
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError(f"chemprop checkpoint not found: {path}")
    d = load_torch_restricted(
        path, allow=CHEMPROP_GLOBALS, what="chemprop checkpoint", trust=trust_checkpoint,
        opt_in=TRUST_OPT_IN,
    )
    if not isinstance(d, dict) or "hyper_parameters" not in d or "state_dict" not in d:
        raise ConfigError(
            f"{path} is not a chemprop v2 checkpoint: expected a dict with 'hyper_parameters' "
            "and 'state_dict' (chemprop v1 files must first be converted with "
            "'chemprop convert')."
        )
    return d


def build_mpnn(d: dict, *, source: str = "checkpoint", load_weights: bool = True) -> Any:
    """Rebuild chemprop's ``MPNN`` from a checkpoint dict, as ``MPNN.load_from_file`` does.

    With ``load_weights=False`` the architecture keeps its fresh initialisation.
    """
    _require_chemprop()
    from chemprop.models import MPNN  # noqa: PLC0415

    hparams = {k: (dict(v) if isinstance(v, dict) else v) for k, v in d["hyper_parameters"].items()}
    for key in ("message_passing", "agg", "predictor"):
        if not isinstance(hparams.get(key), dict) or "cls" not in hparams[key]:
            raise ConfigError(
                f"{source}: not a single-molecule chemprop v2 MPNN (hyper_parameters lack "
                f"{key!r}); multicomponent and atom/bond-property models are not supported"
            )
    mp_cls = hparams["message_passing"]["cls"]
    if "Multicomponent" in mp_cls.__name__:
        raise ConfigError(f"{source}: multicomponent chemprop models are not supported")
    if hparams.get("metrics") is not None:
        hparams["metrics"] = [
            MPNN._rebuild_metric(m) if not hasattr(m, "_defaults") else m
            for m in hparams["metrics"]
        ]
    crit = hparams["predictor"].get("criterion")
    if crit is not None and not hasattr(crit, "_defaults"):
        hparams["predictor"]["criterion"] = MPNN._rebuild_metric(crit)
    for key in ("message_passing", "agg", "predictor"):
        sub = dict(hparams[key])
        cls = sub.pop("cls")
        hparams[key] = cls(**sub)
    model = MPNN(**hparams)
    if load_weights:
        state = MPNN._add_metric_task_weights_to_state_dict(dict(d["state_dict"]), hparams)
        model.load_state_dict(state, strict=True)
    return model.eval()


def admet_ai_checkpoint(group: str = "regression", index: int = 0) -> Path:
    """Path of a model shipped in the ``admet-ai`` wheel, found without importing it.

    Raises :class:`OptionalDependencyError` (with the pip line) when ``admet-ai`` is missing.
    """
    from molstrata.core.errors import check_choice  # noqa: PLC0415

    check_choice("admet-ai group", group, ADMET_AI_GROUPS)
    check_choice("admet-ai model index", index, range(ADMET_AI_MODELS))
    spec = importlib.util.find_spec("admet_ai")
    if spec is None or not spec.submodule_search_locations:
        raise OptionalDependencyError(
            f"the 'admet-ai' encoder needs the admet-ai wheel (it ships the weights). "
            f"Install it with: {ADMET_AI_PIP}"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "resources" / "models" / f"admet_{group}" / f"model_{index}.pt"
    if not path.is_file():
        raise DataNotFoundError(
            f"admet-ai is installed at {root} but {path.relative_to(root)} is missing; "
            f"reinstall it: {ADMET_AI_PIP}"
        )
    return path
