"""Plumbing shared by the pretraining recipes (SMILES MLM and graph descriptor regression).

One place for what both trainers do the same way: the run folder and its resume check
(``run_config.json``), the corpus of a run, the warm-up + linear-decay learning rate, atomic
checkpoints (``checkpoint/``: one ``<name>.safetensors`` per module plus ``trainer_state.pt``
with optimizer, scheduler, torch RNG state, step and elapsed seconds), the optimisation loop
with its ``log.jsonl`` records, clean stops (steps, wall-clock budget, SIGTERM/Ctrl-C), the
final summary and the ``python -m`` entry point. The recipes keep what differs: data, model,
loss, held-out evaluation and export.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from molstrata.core.errors import ConfigError
from molstrata.core.paths import env_data_dir
from molstrata.core.progress import progress as progress_bar
from molstrata.core.safeload import load_tensors
from molstrata.pretrain.corpus import build_corpus, load_corpus

CKPT_DIR = "checkpoint"
MODEL_DIR = "model"


class StopOnSignal:
    """Turn SIGTERM and SIGINT into a request to stop after the current step (then save)."""

    def __init__(self) -> None:
        import signal
        import threading

        self.requested = False
        self._old: dict = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def restore(self) -> None:
        import signal

        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}


# ----------------------------------------------------------------------------- run folder
def open_run(out: str | Path, cfg: Any, resume: bool) -> Path:
    """Create the run folder, set torch's threads and check that ``resume`` fits the folder.

    Parameters
    ----------
    out : the run folder
    cfg : a recipe config with ``threads`` and ``model_keys()`` (the fields that must match on
        resume)
    resume : continue a saved run: ``out/run_config.json`` must exist with the same model
        keys; without it, ``out`` must not hold a checkpoint yet

    Returns
    -------
    ``out`` as a :class:`~pathlib.Path`.
    """
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, int(cfg.threads)))
    run_cfg_path = out / "run_config.json"
    if resume:
        if not run_cfg_path.is_file():
            raise ConfigError(f"--resume given but {run_cfg_path} does not exist; start without --resume")
        saved = json.loads(run_cfg_path.read_text())["model_keys"]
        if saved != cfg.model_keys():
            diff = {k: (saved.get(k), v) for k, v in cfg.model_keys().items() if saved.get(k) != v}
            raise ConfigError(f"--resume with different settings than the saved run (saved, now): {diff}")
    elif (out / CKPT_DIR).exists():
        raise ConfigError(f"{out} already holds a checkpoint: pass --resume, or choose a new --out")
    return out


def write_run_config(out: Path, cfg: Any, corpus_info: dict) -> None:
    """Write ``out/run_config.json``: the config, its model keys and the corpus provenance."""
    (out / "run_config.json").write_text(json.dumps({"config": asdict(cfg), "model_keys": cfg.model_keys(),
                                                     "corpus": corpus_info}, indent=2))


def prepare_corpus(corpus: list[str | Path], out: Path, data_dir: str | Path | None,
                   n_valid: int, seed: int) -> tuple[list[str], list[str], dict]:
    """The (train, valid, provenance) of a run: a given corpus folder, the one already built
    in ``out/corpus``, or one built there from SMILES files (TDC test molecules removed)."""
    if len(corpus) == 1 and Path(corpus[0]).is_dir():
        return load_corpus(corpus[0])
    cdir = out / "corpus"
    if (cdir / "corpus.json").is_file():
        return load_corpus(cdir)
    if data_dir is None:
        data_dir = env_data_dir()
    if data_dir is None:
        raise ConfigError(
            "building a corpus needs the TDC test sets to remove: pass --data-dir or set "
            "MOLSTRATA_DATA_DIR (or pass a corpus folder made by molstrata.pretrain.corpus)"
        )
    build_corpus(list(corpus), cdir, data_dir=data_dir, n_valid=n_valid, seed=seed, progress=False)
    return load_corpus(cdir)


def warmup_linear_decay(cfg: Any) -> Callable[[int], float]:
    """LR multiplier of step ``s``: linear warm-up over ``warmup_frac * steps`` steps (at least
    one), then linear decay to zero at ``steps`` (a plain function, so the scheduler's
    ``state_dict`` does not store it)."""
    warm = max(1, int(cfg.warmup_frac * cfg.steps))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (cfg.steps - step) / max(1, cfg.steps - warm))

    return f


# ----------------------------------------------------------------------------- checkpoints
def save_checkpoint(out: Path, modules: Mapping[str, Any], opt: Any, sched: Any, step: int,
                    elapsed: float) -> None:
    """Write ``out/checkpoint`` atomically (via ``checkpoint.tmp``, the previous kept as
    ``checkpoint.old`` until the swap is done).

    Parameters
    ----------
    modules : file stem -> ``torch.nn.Module``; each is saved as ``<stem>.safetensors``
        (tensors cloned, so tied weights can be written)
    opt, sched : the optimizer and LR scheduler (in ``trainer_state.pt`` with the torch RNG
        state, ``step`` and ``elapsed`` seconds)
    """
    import torch
    from safetensors.torch import save_file

    tmp = out / (CKPT_DIR + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for stem, module in modules.items():
        state = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
        save_file(state, str(tmp / f"{stem}.safetensors"))
    torch.save(
        {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
         "torch_rng": torch.get_rng_state(), "step": step, "elapsed": elapsed},
        tmp / "trainer_state.pt",
    )
    final = out / CKPT_DIR
    old = out / (CKPT_DIR + ".old")
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def load_checkpoint(out: Path, modules: Mapping[str, Any], opt: Any, sched: Any, *,
                    strict: bool = True) -> tuple[int, float]:
    """Restore what :func:`save_checkpoint` wrote (``checkpoint.old`` if an interrupted swap
    left no ``checkpoint``); return ``(step, elapsed seconds)``.

    ``strict`` is passed to each module's ``load_state_dict``.
    """
    import torch
    from safetensors.torch import load_file

    ck = out / CKPT_DIR
    if not (ck / "trainer_state.pt").is_file():
        old = out / (CKPT_DIR + ".old")
        if not (old / "trainer_state.pt").is_file():
            raise ConfigError(f"--resume given but no checkpoint found in {out / CKPT_DIR}")
        ck = old
    for stem, module in modules.items():
        module.load_state_dict(load_file(str(ck / f"{stem}.safetensors")), strict=strict)
    # our own file, written by save_checkpoint: tensors, ints and dicts only
    state = load_tensors(ck / "trainer_state.pt", what="pretraining checkpoint")
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"]), float(state["elapsed"])


# ----------------------------------------------------------------------------- the loop
@dataclass
class RunEnd:
    """How a run ended: last step, total elapsed seconds, last held-out metrics, and why it
    stopped (``"steps"``, ``"max_minutes"`` or ``"signal"``)."""

    step: int
    elapsed: float
    last_eval: dict
    stopped: str

    def summary(self, cfg: Any, corpus_info: dict, **metrics: Any) -> dict:
        """The run summary: step, planned steps, stop reason, elapsed, held-out loss, then
        ``metrics``, the corpus provenance and the config."""
        return {"step": self.step, "steps_planned": cfg.steps, "stopped_by": self.stopped,
                "elapsed_s": round(self.elapsed, 1), "valid_loss": self.last_eval["loss"],
                **metrics, "corpus": corpus_info, "config": asdict(cfg)}


def train_loop(
    out: Path,
    cfg: Any,
    *,
    modules: Mapping[str, Any],
    params: list[Any],
    opt: Any,
    sched: Any,
    step: int,
    elapsed0: float,
    train_step: Callable[[int], tuple[Any, dict[str, float]]],
    train_record: Callable[[dict[str, float]], dict[str, float]],
    evaluate: Callable[[], dict],
    desc: str,
    progress: bool,
) -> RunEnd:
    """Optimise from ``step`` to ``cfg.steps``; log, evaluate, checkpoint; stop cleanly.

    Each step: ``loss, stats = train_step(step)`` (forward pass), then backward, gradient
    norm clipped to 1 over ``params``, optimizer and scheduler step. ``stats`` are summed
    between train records; ``train_record(sums)`` turns them into the logged fields (``loss``
    first). Every ``cfg.log_every`` steps a train record, every ``cfg.eval_every`` steps
    ``evaluate()`` as a valid record go to ``out/log.jsonl``; a checkpoint of ``modules`` is
    written every ``cfg.checkpoint_minutes`` and at the end. The run stops after
    ``cfg.steps``, after ``cfg.max_minutes`` of wall time, or on SIGTERM/Ctrl-C (the held-out
    evaluation is then repeated on the final state).

    Returns
    -------
    RunEnd with the step reached, total elapsed seconds (``elapsed0`` included), the last
    held-out metrics and the stop reason.
    """
    for module in modules.values():
        module.train()
    logf = (out / "log.jsonl").open("a")
    log = _jsonl_logger(logf)
    stop = StopOnSignal()  # SIGTERM / Ctrl-C: finish the step, checkpoint, export, exit
    t0 = time.monotonic()
    last_ckpt = t0
    sums: dict[str, float] = {}
    last_eval: dict = {}
    stopped = "steps"
    bars = contextlib.ExitStack()
    bar = bars.enter_context(progress_bar(desc, cfg.steps, show=progress))
    bar.advance(step)
    while step < cfg.steps:
        loss, stats = train_step(step)
        _optimizer_step(loss, params, opt, sched)
        step += 1
        bar.advance(1)
        for key, value in stats.items():
            sums[key] = sums.get(key, 0.0) + value
        elapsed = elapsed0 + time.monotonic() - t0
        if step % cfg.log_every == 0 or step == cfg.steps:
            fields = train_record(sums)
            log({"step": step, "split": "train", **fields, "lr": sched.get_last_lr()[0],
                 "elapsed_s": round(elapsed, 1)})
            bar.describe(f"{desc} · loss {fields['loss']:.3f}")
            sums = {}
        if step % cfg.eval_every == 0 or step == cfg.steps:
            last_eval = evaluate()
            log({"step": step, "split": "valid", **last_eval, "elapsed_s": round(elapsed, 1)})
        now = time.monotonic()
        if now - last_ckpt >= cfg.checkpoint_minutes * 60:
            save_checkpoint(out, modules, opt, sched, step, elapsed)
            last_ckpt = now
        reason = _stop_reason(cfg, now - t0, step, stop)
        if reason is not None:
            stopped = reason
            break
    stop.restore()
    bars.close()
    elapsed = elapsed0 + time.monotonic() - t0
    if not last_eval or stopped != "steps":
        last_eval = evaluate()
        log({"step": step, "split": "valid", **last_eval, "elapsed_s": round(elapsed, 1)})
    save_checkpoint(out, modules, opt, sched, step, elapsed)
    logf.close()
    return RunEnd(step=step, elapsed=elapsed, last_eval=last_eval, stopped=stopped)


def _jsonl_logger(logf: Any) -> Callable[[dict], None]:
    """Write one record per line to the open file ``logf``, flushed at once."""

    def log(rec: dict) -> None:
        logf.write(json.dumps(rec) + "\n")
        logf.flush()

    return log


def _optimizer_step(loss: Any, params: list[Any], opt: Any, sched: Any) -> None:
    """Backward, gradient norm clipped to 1 over ``params``, optimizer and scheduler step."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    sched.step()


def _stop_reason(cfg: Any, run_s: float, step: int, stop: StopOnSignal) -> str | None:
    """``"max_minutes"`` or ``"signal"`` when the run must stop before ``cfg.steps``."""
    if cfg.max_minutes is not None and run_s >= cfg.max_minutes * 60 and step < cfg.steps:
        return "max_minutes"
    if stop.requested and step < cfg.steps:
        return "signal"
    return None


def write_summary(out: Path, summary: dict) -> None:
    """Write ``out/summary.json``."""
    (out / "summary.json").write_text(json.dumps(summary, indent=2))


# ----------------------------------------------------------------------------- entry point
def earlier_stages(init: str | Path) -> tuple[list[dict], dict[str, bytes]]:
    """Facts and curve plots of the stages that produced the warm-start folder ``init``.

    Returns ``(stages, curves)``: the stages oldest first (``init``'s own ``training.json``
    last, after the ``previous_stages`` it carries) and ``{"curves_stage<i>.png": png}``.
    """
    init = Path(init)
    prev = json.loads((init / "training.json").read_text()) if (init / "training.json").is_file() else {}
    stages = [*prev.pop("previous_stages", []), prev] if prev else []
    curves = {old.name: old.read_bytes() for old in init.glob("curves_stage*.png")}
    if (init / "curves.png").is_file():  # the init model's own stage is the last earlier one
        curves[f"curves_stage{len(stages)}.png"] = (init / "curves.png").read_bytes()
    return stages, curves


def script_main(config_cls: type, train: Callable[..., dict], description: str,
                argv: list[str] | None = None) -> None:
    """``python -m`` entry point of a recipe: ``--corpus``, ``--out``, ``--data-dir``,
    ``--resume`` and one ``--flag`` per numeric field of ``config_cls``; prints the summary."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--corpus", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--resume", action="store_true")
    for f in config_cls.__dataclass_fields__.values():
        if f.name == "extra":
            continue
        typ = {"float": float, "float | None": float, "str": str, "str | None": str}.get(str(f.type), int)
        ap.add_argument("--" + f.name.replace("_", "-"), type=typ, default=f.default)
    args = vars(ap.parse_args(argv))
    cfg = config_cls(**{k: args[k] for k in config_cls.__dataclass_fields__ if k in args})
    summary = train(args["corpus"], args["out"], cfg, data_dir=args["data_dir"], resume=args["resume"])
    print(json.dumps({k: v for k, v in summary.items() if k not in ("corpus", "config")}, indent=2))
