"""Seeding. Nothing random happens at import time; callers seed explicitly."""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Sequence

import numpy as np

from molstrata.core.errors import ConfigError


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (if imported) torch; return a fresh ``np.random.Generator``."""
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 (seeds legacy global users too)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
    return np.random.default_rng(seed)


#: the split seeds of TDC's ADMET benchmark protocol (its leaderboard averages seeds 1-5)
TDC_SEEDS = range(1, 6)


def parse_seeds(seeds: str | Sequence[int], *, flag: str = "--seeds", split: bool = True) -> list[int]:
    """The one seed parser of every command: ``"1,2,3"``, ``"1-5"``, ``"1-3,5"`` or a list of
    ints -> a list of distinct non-negative ints, in the order given.

    Raises :class:`ConfigError` naming ``flag`` on a negative number, a reversed range
    (``5-1``), a duplicate (``1,1`` or ``1-3,2``) or a part that is not a number; logs a
    warning (logger ``molstrata``) for a seed outside TDC's benchmark seeds 1-5 when ``split``
    (the seeds are TDC split seeds; pass ``split=False`` for other seeds, e.g. of weights).
    """
    if isinstance(seeds, str):
        values: list[int] = []
        parts = [p.strip() for p in seeds.split(",")] if seeds.strip(" ,") else []
        for part in parts:
            values.extend(_seed_part(part, flag, seeds))
    else:
        values = [int(s) for s in seeds]
        negative = [v for v in values if v < 0]
        if negative:
            raise ConfigError(f"{flag}: seeds must be >= 0, got {negative[0]}")
    if not values:
        raise ConfigError(f"{flag}: no seeds given; e.g. {flag} 1-5")
    seen: set[int] = set()
    for v in values:
        if v in seen:
            raise ConfigError(f"{flag}: seed {v} is given twice in {_shown(seeds)}")
        seen.add(v)
    outside = [v for v in values if v not in TDC_SEEDS]
    if outside and split:
        import logging

        logging.getLogger("molstrata").warning(
            "%s: seed(s) %s outside TDC's benchmark seeds 1-5: scores are not comparable "
            "with the TDC leaderboard", flag, ", ".join(map(str, outside)))
    return values


def _shown(seeds: str | Sequence[int]) -> str:
    return repr(seeds) if isinstance(seeds, str) else repr(list(seeds))


def _seed_part(part: str, flag: str, text: str) -> list[int]:
    """One comma-separated part of ``--seeds``: ``"3"`` or ``"1-5"``."""
    if re.fullmatch(r"\d+", part):
        return [int(part)]
    match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
    if match:
        lo, hi = int(match[1]), int(match[2])
        if lo > hi:
            raise ConfigError(f"{flag}: the range {part!r} is reversed; write {hi}-{lo}")
        return list(range(lo, hi + 1))
    if re.fullmatch(r"-\s*\d+", part):
        raise ConfigError(f"{flag}: seeds must be >= 0, got {part!r} in {text!r}")
    if not part:
        raise ConfigError(f"{flag}: empty item in {text!r}; e.g. {flag} 1,2,3 or 1-5")
    raise ConfigError(f"{flag}: {part!r} is not an integer or a range a-b (in {text!r})")
