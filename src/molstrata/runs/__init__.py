"""Runs: the orchestration above the stages, one module per command that writes a run folder.

- :func:`sweep` (``molstrata probe``): encoders × tasks × seeds × layers of frozen probes,
  resumable, with the selection strategies and the report (:mod:`molstrata.runs.probe`).
- :func:`run_finetune` / :func:`run_finetune_tasks` (``molstrata finetune``): depths × seeds
  of finetuning, with the probe's own frozen linear probe picking ``--layers auto``
  (:mod:`molstrata.runs.finetune`).
- :func:`run_embed` (``molstrata embed``): every layer of one encoder for a task's or a CSV's
  molecules, written to a run folder (:mod:`molstrata.runs.embed`).
- :func:`run_analyze` (``molstrata analyze``): the label-free depth profile of one encoder,
  keyed and written to a run folder (:mod:`molstrata.runs.analyze`).

Runs import the stages (``data``, ``encoders``, ``embeddings``, ``analysis``, ``probe``,
``finetune``) and ``report``; no stage imports ``runs`` (``tests/test_layers.py``).
"""

from molstrata.runs.analyze import AnalyzeRun, run_analyze
from molstrata.runs.embed import EmbedRun, run_embed
from molstrata.runs.finetune import run_finetune, run_finetune_tasks
from molstrata.runs.probe import ProbeRun, sweep

__all__ = [
    "AnalyzeRun", "EmbedRun", "ProbeRun", "run_analyze", "run_embed", "run_finetune",
    "run_finetune_tasks", "sweep",
]
