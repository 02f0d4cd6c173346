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


def parse_seeds(seeds: str | Sequence[int]) -> list[int]:
    """``"1,2,3"`` or ``"1-5"`` or a list → a list of distinct ints, in order (``--seeds`` of
    every command)."""
    if isinstance(seeds, str):
        values: list[int] = []
        for part in (p.strip() for p in seeds.split(",") if p.strip()):
            match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
            if match:
                values.extend(range(int(match[1]), int(match[2]) + 1))
            elif re.fullmatch(r"-?\d+", part):
                values.append(int(part))
            else:
                raise ConfigError(f"--seeds: {part!r} is not an integer or a range a-b")
    else:
        values = [int(s) for s in seeds]
    if not values:
        raise ConfigError("no seeds given; e.g. --seeds 1,2,3,4,5")
    return list(dict.fromkeys(values))
