"""Export a pretraining run's checkpoint as a shipped weight folder with its model card.

``python -m molstrata.pretrain.export smiles RUN_DIR DEST`` (or ``graph``) writes the
safetensors weights, config (and tokenizer), ``training.json`` with the facts of the run,
``curves.png`` (train and held-out losses) and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from molstrata.core.errors import ConfigError, DataNotFoundError
from molstrata.core.safeload import load_tensors
from molstrata.encoders.builtin import pretraining_stages
from molstrata.pretrain._loop import earlier_stages

REPRODUCE = {
    "smiles": ("molstrata pretrain smiles --corpus <unlabeled_smiles files> --data-dir <TDC data> "
               "--out RUN --steps {steps} --batch-size {batch_size} --lr {lr} --layers {num_layers} "
               "--hidden {hidden_size} --heads {num_heads} --intermediate {intermediate_size} "
               "--max-length {max_length} --eval-every {eval_every} --seed {seed} --threads 1 "
               "[--max-minutes M] [--resume]"),
    "graph": ("molstrata pretrain graph --corpus <unlabeled_smiles files> --data-dir <TDC data> "
              "--out RUN --steps {steps} --batch-size {batch_size} --lr {lr} --layers {num_layers} "
              "--hidden {hidden} --eval-every {eval_every} --seed {seed} --supervise {supervise} "
              "--threads 1 [--max-minutes M] [--resume]"),
}


def _read_log(run: Path) -> list[dict]:
    path = run / "log.jsonl"
    if not path.is_file():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def run_facts(run: str | Path) -> dict[str, Any]:
    """Step, wall time, last held-out metrics, corpus and config of a run's checkpoint."""

    run = Path(run)
    state_path = run / "checkpoint" / "trainer_state.pt"
    if not state_path.is_file():
        raise DataNotFoundError(f"no checkpoint in {run / 'checkpoint'}")
    state = load_tensors(state_path, what="pretraining checkpoint")
    run_cfg = json.loads((run / "run_config.json").read_text())
    log = _read_log(run)
    step = int(state["step"])
    valid = [r for r in log if r["split"] == "valid" and r["step"] <= step]
    train = [r for r in log if r["split"] == "train" and r["step"] <= step]
    summary_path = run / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    stopped = summary.get("stopped_by") if summary.get("step") == step else "checkpoint (run in progress)"
    facts: dict[str, Any] = {
        "step": step, "steps_planned": run_cfg["config"]["steps"], "stopped_by": stopped,
        "elapsed_s": round(float(state["elapsed"]), 1), "corpus": run_cfg["corpus"],
        "config": run_cfg["config"],
    }
    if valid:
        last = valid[-1]
        facts.update({f"valid_{k}": v for k, v in last.items() if k not in ("step", "split", "elapsed_s", "n_tokens")})
        facts["valid_at_step"] = last["step"]
    if train:
        facts.update({f"train_{k}": v for k, v in train[-1].items() if k in ("loss", "acc")})
    return facts


def plot_curves(run: str | Path, path: str | Path, title: str) -> Path:
    """Train and held-out loss (and MLM accuracy when logged) against step, as a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = _read_log(Path(run))
    tr = [r for r in log if r["split"] == "train"]
    va = [r for r in log if r["split"] == "valid"]
    has_acc = any("acc" in r for r in va)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(8 if has_acc else 4.5, 3), dpi=90)
    axes = list(axes) if has_acc else [axes]
    axes[0].plot([r["step"] for r in tr], [r["loss"] for r in tr], lw=1, label="train")
    axes[0].plot([r["step"] for r in va], [r["loss"] for r in va], "o-", ms=3, label="held-out")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("loss")
    axes[0].legend()
    if has_acc:
        axes[1].plot([r["step"] for r in tr], [r["acc"] for r in tr], lw=1, label="train")
        axes[1].plot([r["step"] for r in va], [r["acc"] for r in va], "o-", ms=3, label="held-out")
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("masked-token accuracy")
        axes[1].legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def _card_text(kind: str, name: str, facts: dict, objective: str) -> str:
    c = facts["corpus"]
    cfg = facts["config"]
    lines = [
        f"# {name}", "",
        f"molstrata's built-in {'SMILES transformer' if kind == 'smiles' else 'graph'} encoder. "
        f"Objective: {objective}", "",
        "| fact | value |", "|---|---|",
        f"| corpus | {c['n_train']} training + {c['n_valid']} held-out canonical SMILES from "
        f"ChEMBL 30/31 (`unlabeled_smiles/`), {c['n_unique']} unique read |",
        f"| TDC ADMET test molecules removed | {c['n_removed_tdc_test']} (canonical-SMILES match, all 22 tasks) |",
        f"| corpus sha256 (train.txt / valid.txt) | `{c['sha256_train']}` / `{c['sha256_valid']}` |",
        f"| steps | {facts['step']} of {facts['steps_planned']} planned ({facts['stopped_by']}) |",
        f"| batch size | {cfg['batch_size']} molecules |",
        f"| wall time | {facts['elapsed_s'] / 60:.0f} min on 1 shared CPU thread |",
    ]
    for i, prev in enumerate(facts.get("previous_stages", ()), start=1):
        lines.append(
            f"| warm start: stage {i} | {prev['step']} steps of {prev['config']['batch_size']} "
            f"molecules, {prev['elapsed_s'] / 60:.0f} min, final valid loss "
            f"{prev.get('valid_loss', float('nan')):.4f}, acc {prev.get('valid_acc', float('nan')):.4f} "
            f"(held-out set of {prev['config'].get('n_eval', '?')} molecules) |")
    stages = pretraining_stages(facts)
    if len(stages) > 1:
        total = sum(st["step"] for st in stages)
        wall = sum(st["elapsed_s"] for st in stages)
        lines.append(f"| all stages | {total} steps, {wall / 60:.0f} min |")
    if "n_eval" in cfg:
        lines.append(f"| held-out evaluation | {cfg['n_eval']} molecules of the held-out split |")
    for k in ("valid_loss", "valid_acc", "valid_r2_mean", "valid_r2_min_layer", "train_loss", "train_acc"):
        if k in facts:
            lines.append(f"| final {k.replace('_', ' ')} | {facts[k]:.4f} |")
    # one command per stage, in order; stage i+1 starts from stage i's exported model
    commands = [REPRODUCE[kind].format(**st["config"]) for st in stages]
    curves = "![pretraining curves](curves.png)"
    if len(stages) > 1:  # curves_stage<i>.png: the earlier stages' plots, carried by export_smiles
        commands = [c.replace("--out RUN", f"--out RUN{i + 1}") + (f" --init-from RUN{i}/model" if i else "")
                    for i, c in enumerate(commands)]
        curves = "".join(f"Stage {i}: ![stage-{i} curves](curves_stage{i}.png)\n\n"
                         for i in range(1, len(stages))) + "This stage (warm start): " + curves
    lines += ["", curves, "", "## Reproduce", "", "```", *commands, "```", "",
              "Architecture and hyper-parameters: see `training.json` (`config`).", ""]
    if facts["stopped_by"] != "steps":
        lines += ["## Caveat", "",
                  f"Training stopped at step {facts['step']} of {facts['steps_planned']} "
                  "(wall-clock budget on a shared 2-core CPU): a short pretraining, not a "
                  "converged model. Continue it with the same command plus `--resume`.", ""]
    return "\n".join(lines)


def export_smiles(run: str | Path, dest: str | Path, name: str = "molstrata-smiles") -> dict:
    """Export a SMILES MLM run's checkpoint to ``dest`` (HF folder + card); return the facts."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from molstrata.pretrain.smiles_mlm import SmilesMLMConfig, build_model, export_model

    run, dest = Path(run), Path(dest)
    facts = run_facts(run)
    cfg = SmilesMLMConfig(**facts["config"])
    stage_curves: dict[str, bytes] = {}
    if cfg.init_from:  # a warm-started stage: keep the earlier stages' facts and curves
        facts["previous_stages"], stage_curves = earlier_stages(cfg.init_from)
    tok = AutoTokenizer.from_pretrained(str(run / "tokenizer"))
    model = build_model(cfg, tok)
    model.load_state_dict(load_file(str(run / "checkpoint" / "model.safetensors")))
    if dest.exists():
        shutil.rmtree(dest)
    export_model(model.eval(), tok, dest, meta=facts)
    plot_curves(run, dest / "curves.png", f"{name}: masked-language-model pretraining")
    for fname, png in stage_curves.items():
        (dest / fname).write_bytes(png)
    (dest / "MODEL_CARD.md").write_text(_card_text(
        "smiles", name, facts,
        "masked-language modelling (15 % of tokens, 80/10/10) on randomised SMILES, "
        "atom-level regex tokenizer (Schwaller et al.)."))
    return facts


_SUPERVISE_TEXT = {
    "every-layer": ("with one linear head on every message-passing layer (loss averaged over "
                    "layers), so that every layer, as molstrata's linear probes read it, carries "
                    "the descriptors."),
    "last": "with an MLP head on the last layer only.",
}


def export_graph(run: str | Path, dest: str | Path, name: str = "molstrata-graph") -> dict:
    """Export a graph run's checkpoint to ``dest`` (safetensors + config + card); return the facts."""
    from safetensors.torch import load_file

    from molstrata.encoders.graph.gin import GINE
    from molstrata.pretrain.descriptors import descriptor_names
    from molstrata.pretrain.graph import export_graph_model

    run, dest = Path(run), Path(dest)
    facts = run_facts(run)
    facts["objective"] = "rdkit-descriptor-regression"
    cfg = facts["config"]
    cfg.setdefault("supervise", "last")  # runs from before the option existed
    model = GINE(hidden=cfg["hidden"], num_layers=cfg["num_layers"])
    model.load_state_dict(load_file(str(run / "checkpoint" / "model.safetensors")))
    if dest.exists():
        shutil.rmtree(dest)
    export_graph_model(model.eval(), dest, {"pretraining": facts, "descriptor_names": descriptor_names()})
    plot_curves(run, dest / "curves.png", f"{name}: RDKit-descriptor regression (MSE, standardised)")
    (dest / "MODEL_CARD.md").write_text(_card_text(
        "graph", name, facts,
        f"regression of ~120 standardised RDKit 2D descriptors from mean-pooled node states "
        f"(MSE), CheMeleon-style, {_SUPERVISE_TEXT[cfg['supervise']]} Chosen because it needs no "
        "labels, is cheap on CPU, and targets the physico-chemical quantities ADMET endpoints "
        "depend on."))
    return facts


if __name__ == "__main__":  # pragma: no cover
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("kind", choices=["smiles", "graph"])
    ap.add_argument("run")
    ap.add_argument("dest")
    args = ap.parse_args()
    fn = {"smiles": export_smiles, "graph": export_graph}.get(args.kind)
    if fn is None:
        raise ConfigError(f"unknown kind {args.kind!r}")
    facts = fn(args.run, args.dest)
    print(json.dumps({k: v for k, v in facts.items() if k not in ("corpus", "config")}, indent=2))
