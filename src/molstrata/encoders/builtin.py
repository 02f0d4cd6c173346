"""molstrata's own pretrained encoders, shipped inside the package (work offline).

* ``molstrata-smiles``: a 6-layer RoBERTa SMILES masked-language model with
  an atom-level regex tokenizer, loaded through the Hugging Face adapter
  (:func:`molstrata.encoders.smiles.hf.load_hf`); the folder is a plain HF model folder.
* ``molstrata-graph`` (alias ``default``: chosen on validation scores only, 22 TDC tasks x
  seeds 1-5, against 3 random_init twins each: better than the SMILES model on 16 of 22 tasks,
  ``benchmarks/default_decision.py``): a 5-layer GINE (torch_geometric) pretrained by
  RDKit-descriptor regression from every layer, loaded from safetensors
  (:mod:`molstrata.encoders.graph.gin`).

Both come from the recipes in :mod:`molstrata.pretrain` (``molstrata pretrain smiles|graph``);
each weight folder holds ``MODEL_CARD.md`` with the corpus, its hash, the molecules removed,
steps, wall time, final losses and the command to reproduce.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from molstrata.core.errors import DataNotFoundError
from molstrata.encoders.card import EncoderCard

WEIGHTS_ROOT = Path(__file__).parent / "weights"
SMILES_NAME = "molstrata-smiles"
GRAPH_NAME = "molstrata-graph"


def weights_dir(name: str) -> Path:
    """The packaged folder of a built-in encoder (may not exist if weights were not trained)."""
    return WEIGHTS_ROOT / name


def _smiles_present(folder: Path) -> bool:
    return all((folder / f).is_file() for f in ("config.json", "model.safetensors", "tokenizer.json"))


def _graph_present(folder: Path) -> bool:
    return all((folder / f).is_file() for f in ("config.json", "model.safetensors"))


def _missing(name: str, folder: Path, recipe: str) -> DataNotFoundError:
    return DataNotFoundError(
        f"the weights of built-in encoder {name!r} are not present in {folder}. Produce them with "
        f"`molstrata pretrain {recipe} --corpus <SMILES files> --out <run dir>` and copy "
        f"<run dir>/model/* into {folder}"
    )


def _training_facts(name: str) -> dict[str, Any]:
    folder = weights_dir(name)
    path = folder / "training.json"
    if path.is_file():
        return json.loads(path.read_text())
    cfg = folder / "config.json"
    if cfg.is_file():
        return json.loads(cfg.read_text()).get("pretraining", {})
    return {}


def pretraining_stages(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The facts of every pretraining stage, oldest first: the warm starts recorded in
    ``previous_stages``, then the run itself (each with ``step``, ``elapsed_s``, ``config``)."""
    return [*facts.get("previous_stages", []), facts]


def _trained_on(facts: dict[str, Any]) -> str:
    c = facts.get("corpus") or {}
    if not c:
        return "ChEMBL 30/31 SMILES minus every TDC ADMET test molecule (not trained yet)"
    stages = pretraining_stages(facts)
    steps = " + ".join(f"{s.get('step', '?')} x {s.get('config', {}).get('batch_size', '?')}" for s in stages)
    minutes = round(sum(float(s.get("elapsed_s", 0)) for s in stages) / 60)
    return (
        f"{c.get('n_train', '?')} ChEMBL 30/31 canonical SMILES after removing "
        f"{c.get('n_removed_tdc_test', '?')} molecules of the 22 TDC ADMET test sets "
        f"(train sha256 {str(c.get('sha256_train', '?'))[:16]}...); "
        f"{steps} steps x molecules ({len(stages)} stage{'s' if len(stages) > 1 else ''}), "
        f"{minutes} min CPU wall time"
    )


# ----------------------------------------------------------------------------- SMILES
def load_smiles(
    *, device: str | None = None, max_layer: int | None = None, random_init: bool = False,
    trust_remote_code: bool = False, seed: int = 0, **options: Any,
) -> Any:
    """The built-in RoBERTa SMILES encoder (``molstrata-smiles``) as an ``HFEncoder``.

    Parameters
    ----------
    device, max_layer, trust_remote_code : as in :func:`molstrata.encoders.load_encoder`
        (the folder has no custom code, so ``trust_remote_code`` is never needed)
    random_init : same architecture and tokenizer, weights freshly drawn with ``seed``
    seed : seed of ``random_init``
    **options : passed to :func:`molstrata.encoders.smiles.hf.load_hf` (``max_length``, ``on_too_long``...)

    Returns
    -------
    HFEncoder named ``molstrata-smiles`` with ``num_layers + 1`` = 7 layers of width 256.
    """
    from molstrata.encoders.smiles.hf import load_hf

    folder = weights_dir(SMILES_NAME)
    if not _smiles_present(folder):
        raise _missing(SMILES_NAME, folder, "smiles")
    options.setdefault("name", SMILES_NAME)
    return load_hf(str(folder), device=device, max_layer=max_layer, random_init=random_init,
                   trust_remote_code=trust_remote_code, seed=seed, **options)


def _budget_warnings(facts: dict) -> list[str]:
    """A card warning when pretraining stopped on its wall-clock budget before its schedule."""
    if facts and facts.get("stopped_by") == "max_minutes":
        return [
            f"pretraining was stopped by its wall-clock budget at step {facts['step']} of "
            f"{facts['steps_planned']}: a short CPU pretraining, not a converged model"
        ]
    return []


def _builtin_card(
    name: str, recipe: str, facts: dict[str, Any], *, kind: str, n_layers: int, hidden: int,
    description: str, source: str, verified: str, present: bool,
) -> EncoderCard:
    """The card of a built-in encoder: packaged weights, molstrata's licence, the ``molstrata
    pretrain <recipe>`` that retrains it, corpus and budget facts from its pretraining ``facts``."""
    return EncoderCard(
        name=name, kind=kind, num_layers=n_layers, dims=[hidden] * (n_layers + 1),
        description=description, source=source,
        weights=f"packaged: {weights_dir(name)}", license="MIT (weights trained by molstrata on ChEMBL, CC BY-SA 3.0)",
        how_to_get_weights=f"shipped in the package; retrain with `molstrata pretrain {recipe}`",
        trained_on=_trained_on(facts), verified=verified,
        warnings=_budget_warnings(facts), weights_present=present,
    )


def smiles_card(**_: Any) -> EncoderCard:
    """Model card of ``molstrata-smiles`` (facts read from the packaged ``training.json``)."""
    folder = weights_dir(SMILES_NAME)
    facts = _training_facts(SMILES_NAME)
    cfg = facts.get("config", {})
    n_layers = int(cfg.get("num_layers", 6))
    hidden = int(cfg.get("hidden_size", 256))
    desc = "RoBERTa masked-language model on atom-level regex SMILES tokens (randomised-SMILES augmentation)."
    if facts:
        desc += (f" Held-out MLM loss {facts['valid_loss']:.3f}, masked-token accuracy "
                 f"{facts['valid_acc']:.3f} after {facts['step']} steps.")
    return _builtin_card(
        SMILES_NAME, "smiles", facts, kind="smiles-transformer", n_layers=n_layers, hidden=hidden,
        description=desc, source="molstrata.pretrain.smiles_mlm (HF transformers RobertaForMaskedLM)",
        verified="loads with transformers.AutoModel/AutoTokenizer", present=_smiles_present(folder),
    )


# ----------------------------------------------------------------------------- graph
def load_graph(
    *, device: str | None = None, max_layer: int | None = None, random_init: bool = False,
    trust_remote_code: bool = False, seed: int = 0, **options: Any,
) -> Any:
    """The built-in GINE graph encoder (``molstrata-graph``) as a ``GraphEncoder``.

    Parameters
    ----------
    device : ``"cpu"``, ``"cuda"``...; default CUDA when available
    max_layer : keep only the first ``max_layer`` message-passing blocks
    random_init : same architecture, weights freshly drawn with ``seed`` (probing control)
    trust_remote_code : ignored (no remote code involved)
    seed : seed of ``random_init``

    Returns
    -------
    GraphEncoder with ``num_layers + 1`` = 6 layers of width 256 (mean/sum/max pooling).
    """
    from molstrata.core.errors import ConfigError
    from molstrata.encoders.graph.gin import GraphEncoder, load_gine, weights_hash

    if options:
        raise ConfigError(f"unknown option(s) for {GRAPH_NAME!r}: {', '.join(sorted(options))}")
    folder = weights_dir(GRAPH_NAME)
    if not (folder / "config.json").is_file() or (not random_init and not _graph_present(folder)):
        raise _missing(GRAPH_NAME, folder, "graph")
    def build() -> Any:
        model, _ = load_gine(folder, random_init=random_init, seed=seed)
        return model.truncated(int(max_layer)) if max_layer is not None else model

    if not random_init:  # identity from the weights file; network built when first used
        n_all = int(json.loads((folder / "config.json").read_text())["num_layers"])
        n = n_all if max_layer is None else int(max_layer)
        sha = weights_hash(folder, n) if 0 <= n <= n_all else None
        if sha is not None:
            return GraphEncoder(build, name=GRAPH_NAME, device=device, seed=seed, num_layers=n, weights_sha=sha)
    return GraphEncoder(build(), name=GRAPH_NAME, device=device, random_init=random_init, seed=seed)


def graph_card(**_: Any) -> EncoderCard:
    """Model card of ``molstrata-graph`` (facts read from the packaged ``config.json``)."""
    folder = weights_dir(GRAPH_NAME)
    cfg = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
    facts = cfg.get("pretraining", {})
    n_layers = int(cfg.get("num_layers", 5))
    hidden = int(cfg.get("hidden", 256))
    where = ("every message-passing layer's" if facts.get("config", {}).get("supervise") == "every-layer"
             else "the last layer's")
    desc = ("GINE (GIN with edge features, torch_geometric) pretrained label-free by regressing "
            f"~120 standardised RDKit 2D descriptors from {where} mean-pooled node states.")
    if facts:
        desc += (f" Held-out descriptor MSE {facts['valid_loss']:.3f} (standardised units), "
                 f"mean R² {facts['valid_r2_mean']:.3f} (last layer) after {facts['step']} steps.")
    return _builtin_card(
        GRAPH_NAME, "graph", facts, kind="graph", n_layers=n_layers, hidden=hidden,
        description=desc, source="molstrata.encoders.graph.gin + molstrata.pretrain.graph",
        verified="GraphEncoder layers checked against a direct GINE forward", present=_graph_present(folder),
    )
