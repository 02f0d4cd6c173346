"""``molstrata probe --control random-twin`` (issue 21): the same sweep, the same strategy, on
each encoder's random-init twin (same architecture, weights re-initialised with a fixed seed),
written to ``<out>/control_random-twin/``; the probe report shows the twin's Δ beside the
pretrained one (a gain that is as large on random weights is not a gain of pretraining).

The twin's embeddings are cached under their own key: the cache keys on the encoder's
identity, which holds the twin's weights hash (SMILES models) or its ``random_init`` flag and
seed (graph models), never the pretrained weights'.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from molstrata import encoders as _encoders
from molstrata.core.errors import ConfigError, check_choice
from molstrata.report.headline_section import CONTROL_DIR
from molstrata.runs._record import RUN_FILE

#: the values of ``--control``
CONTROLS = ("none", "random-twin")
#: the default seed of the twins' weights (recorded in ``config.toml`` as ``control_seed``)
DEFAULT_CONTROL_SEED = 0


def check_control(control: str | None, seed: int) -> str:
    """``control`` checked (``None`` -> ``"none"``); ``seed`` must be an integer >= 0."""
    control = "none" if control is None else str(control)
    check_choice("control", control, CONTROLS)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--control-seed must be an integer >= 0, got {seed!r}")
    return control


def random_twins(encoders: Sequence[Any], *, seed: int, device: str | None = None,
                 trust_remote_code: bool = False) -> list[Any]:
    """The random-init twin of each encoder given by name or folder (same architecture,
    weights drawn with ``seed``); an encoder given as an instance is refused (its loader is
    unknown)."""
    twins = []
    for ref in encoders:
        if not isinstance(ref, str):
            raise ConfigError(f"--control random-twin: encoder {getattr(ref, 'name', ref)!r} was given as an "
                              "object; give it by registered name or model folder so that its twin can be built")
        try:
            twins.append(_encoders.load_encoder(ref, device=device, random_init=True, seed=seed,
                                                trust_remote_code=trust_remote_code))
        except TypeError as exc:
            raise ConfigError(f"--control random-twin: encoder {ref!r} has no random-init twin ({exc})") from None
    return twins


def control_folder(out: Path) -> Path:
    """Where the twin's run goes inside the probe run ``out``."""
    return Path(out) / CONTROL_DIR


def drop_stale_control(out: Path) -> None:
    """Remove an earlier run's ``control_random-twin/`` (molstrata's: it holds a ``run.json``)
    when this run has no control, so that the report does not show it."""
    folder = control_folder(out)
    if folder.is_dir() and (folder / RUN_FILE).is_file():
        shutil.rmtree(folder)


def run_twins(sweep: Callable[..., Any], twins: Sequence[Any], out: Path, seed: int,
              **options: Any) -> Any:
    """Run ``sweep`` (:func:`molstrata.runs.probe.sweep`) on ``twins`` into
    :func:`control_folder` with the main run's ``options`` (no baseline, no report of its
    own); return its ProbeRun. Without twins, drop an earlier run's control folder and
    return ``None``."""
    if not twins:
        drop_stale_control(out)
        return None
    return sweep(list(twins), out=control_folder(out), report=False, baseline="none",
                 config={"control_of": str(out), "control": "random-twin", "control_seed": seed}, **options)
