"""What the 3D adapters (Uni-Mol v1, Uni-Mol2, Orb v3) share: conformers, identity, truncation.

:class:`Conformer3DEncoder` makes the RDKit conformers of all molecules before embedding
(cached, in parallel, with a progress bar; :mod:`molstrata.data.conformers`), keeps them by
SMILES in ``self._conformers`` (shared with truncated copies) and reports the method of each
row in ``meta["conformer_methods"]``: its ``prepare`` and ``row_meta`` hooks, which the
shared prelude (:mod:`molstrata.encoders.prelude`) runs on the plain and the cached path. It also owns the parts of the adapters that are the same
for every 3D model: device placement, the ``module`` property, the identity (weights hash,
conformer seed and recipe, facts), cutting a block list for :meth:`truncate`, and recording
the per-layer outputs with forward hooks.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from molstrata.core.device import resolve_device
from molstrata.core.errors import ConfigError
from molstrata.encoders.base import Encoder
from molstrata.encoders.smiles.hf import state_dict_sha256

_E = TypeVar("_E", bound="Conformer3DEncoder")


def conformer_recipe() -> dict[str, Any]:
    """Version of molstrata's conformer recipe and of RDKit (both change the geometry)."""
    from rdkit import rdBase

    from molstrata.data.conformers import RECIPE_VERSION

    return {"recipe": RECIPE_VERSION, "rdkit": rdBase.rdkitVersion}


def load_fitting_state(model: Any, state: dict[str, Any], *, source: str, what: str,
                       skip: tuple[str, ...] = ()) -> None:
    """Load a checkpoint's ``state`` into ``model`` once it is known to fit.

    Every entry of ``model.state_dict()`` (but those whose name starts with one of ``skip``,
    e.g. a task head) must be in ``state`` with the model's shape; otherwise a ConfigError
    names ``source``, ``what`` it is not (e.g. "is not a Uni-Mol v1 checkpoint for this
    architecture") and the first offending keys. Entries the model lacks are ignored.
    """
    own = model.state_dict()
    needed = [k for k in own if not k.startswith(skip)]
    missing = [k for k in needed if k not in state]
    if missing:
        raise ConfigError(f"{source} {what}: {len(missing)} weights missing, e.g. {missing[:5]}")
    bad = [k for k in needed if tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        raise ConfigError(
            f"{source}: shapes differ for {bad[:5]} (e.g. {bad[0]}: checkpoint "
            f"{tuple(state[bad[0]].shape)} vs model {tuple(own[bad[0]].shape)})"
        )
    model.load_state_dict({k: state[k] for k in needed}, strict=not skip)


def layer_outputs(first: Any, blocks: Sequence[Any], run: Callable[[], Any], *,
                  first_returns_tuple: bool = False) -> list[Any]:
    """The output of ``first`` then of each module of ``blocks``, recorded while ``run()`` runs.

    Blocks return tuples whose element 0 is the hidden state; ``first`` returns the state
    itself unless ``first_returns_tuple``. The forward hooks are removed afterwards, also when
    ``run`` raises.

    Returns
    -------
    list of ``1 + len(blocks)`` tensors, in call order.
    """
    hidden: list[Any] = []
    if first_returns_tuple:
        hooks = [first.register_forward_hook(lambda _m, _i, out: hidden.append(out[0]))]
    else:
        hooks = [first.register_forward_hook(lambda _m, _i, out: hidden.append(out))]
    hooks += [block.register_forward_hook(lambda _m, _i, out: hidden.append(out[0])) for block in blocks]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return hidden


class Conformer3DEncoder(Encoder):
    """Base of the 3D adapters (Uni-Mol, Orb): conformers are made for all molecules before
    embedding (cached, in parallel, with a progress bar), kept in ``self._conformers`` by
    SMILES, and the method of each row is reported in ``meta["conformer_methods"]``.

    Subclasses call :meth:`_setup` in ``__init__``, set ``num_layers`` and implement
    ``_forward``; :meth:`_identity_fields` adds their own facts to :meth:`identity`.
    """

    conformer_seed: int = 0
    _conformers: dict[str, Any]

    def _setup(self, model: Any, *, name: str, full_num_layers: int, conformer_seed: int,
               facts: dict[str, Any] | None, device: str | None) -> None:
        """Set name, device (default CUDA when available), the model in ``eval()`` mode on it,
        the full depth, the conformer seed, the facts, an empty conformer store and identity."""
        import torch

        self.name = name
        self.device = torch.device(resolve_device(device))
        self.model = model.to(self.device).eval()
        self.full_num_layers = int(full_num_layers)
        self.conformer_seed = int(conformer_seed)
        self._facts = dict(facts or {})
        self._conformers = {}
        self._identity: dict[str, Any] | None = None

    @property
    def module(self) -> Any:
        return self.model

    # ---------------------------------------------------------------------- identity
    def _identity_fields(self) -> dict[str, Any]:
        """The model's own identity facts (between ``name`` and ``conformer_seed``)."""
        return {"weights_sha256": state_dict_sha256(self.model), "num_layers": self.num_layers,
                "full_num_layers": self.full_num_layers}

    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = {
                "class": type(self).__name__, "name": self.name, **self._identity_fields(),
                "conformer_seed": self.conformer_seed, "conformer_recipe": conformer_recipe(),
                **self._facts,
            }
        return dict(self._identity)

    # ---------------------------------------------------------------------- truncation
    def _truncated_model(self, n_layers: int, owner: Any, attr: str, unit: str = "blocks") -> Any:
        """A deep copy of ``self.model`` whose ``owner.<attr>`` block list keeps the first
        ``n_layers`` blocks (the original is restored, nothing else is copied twice)."""
        import torch

        n_layers = int(n_layers)
        if not 1 <= n_layers <= self.num_layers:
            raise ConfigError(f"cannot truncate {self.name!r} to {n_layers} {unit}; it has {self.num_layers}")
        blocks = getattr(owner, attr)
        setattr(owner, attr, torch.nn.ModuleList(list(blocks)[:n_layers]))
        try:
            return copy.deepcopy(self.model)
        finally:
            setattr(owner, attr, blocks)

    def _sharing_conformers(self, other: _E) -> _E:
        """``other`` (a truncated copy), made to share this encoder's conformer store."""
        other._conformers = self._conformers
        return other

    # ---------------------------------------------------------------------- conformers
    def prepare(self, smiles: Sequence[str], *, rows: np.ndarray | None = None,
                progress: bool | None = None) -> None:
        """Make (or read from cache) the conformers of ``smiles``, in parallel, before
        embedding; failures raise :class:`~molstrata.data.conformers.ConformerError`
        naming ``rows`` (input row positions)."""
        from molstrata.data.conformers import ConformerError, generate_conformers

        need = [s for s in dict.fromkeys(smiles) if s not in self._conformers]
        if not need:
            return
        made = generate_conformers(need, seed=self.conformer_seed, on_error="mask", progress=progress)
        if len(made.failed):
            bad = {need[j]: made.reasons[j] for j in made.failed}
            hits = [(i, s) for i, s in enumerate(smiles) if s in bad]
            idx = [int(rows[i]) if rows is not None else i for i, _ in hits]
            raise ConformerError(idx, [s for _, s in hits], [bad[s] for _, s in hits])
        self._conformers.update(zip(need, made.conformers, strict=True))

    def row_meta(self, smiles: Sequence[str], rows: np.ndarray, n_rows: int) -> dict[str, Any]:
        """``conformer_methods``: the conformer method of each row (``None`` where invalid);
        warns, naming the rows, when some molecules only got 2D coordinates."""
        methods: list[str | None] = [None] * n_rows
        for row, s in zip(rows, smiles, strict=True):
            methods[int(row)] = self._conformers[s].method
        flat = [i for i, m in enumerate(methods) if m == "2d"]
        if flat:
            warnings.warn(
                f"{len(flat)} molecule(s) got 2D coordinates (ETKDG failed, z = 0) and were "
                f"embedded by the 3D encoder {self.name!r} anyway: rows "
                f"{', '.join(map(str, flat[:10]))}{'...' if len(flat) > 10 else ''}; see "
                "meta['conformer_methods']",
                stacklevel=4,  # row_meta <- plan_embedding <- embed / embed_cached <- caller
            )
        return {"conformer_methods": methods}
