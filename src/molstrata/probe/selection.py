"""Choosing a layer (or a combination of layers) without the test set, and the paper's
relative gain.

Strategies (``molstrata probe --selection``; :data:`SELECTIONS`), all on ``train_val``
only:

* ``valid`` (alias ``valid-best``): the layer with the best score on the seed's validation
  split (:func:`select_layer`);
* ``cv``: the layer with the best mean score over a scaffold-grouped k-fold CV inside
  ``train_val`` (:func:`select_cv`; folds and fits in :mod:`molstrata.probe.cv`);
* ``cv-1se``: the final layer unless another layer beats it, on the same CV, by more than
  one standard error of the paired fold differences (:func:`select_cv_1se`);
* ``concat``, ``ensemble``, ``mix``: layer combinations tuned with the same CV
  (:mod:`molstrata.probe.combine`).

Nothing here accepts test scores, except :func:`oracle_layer`, which exists only to measure
how optimistic test-picking is and whose output is always reported under the label
"oracle".
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from molstrata.core.choice import best_index
from molstrata.core.errors import ConfigError, check_choice
from molstrata.data._metrics import delta_pct  # noqa: F401  (re-export)
from molstrata.probe.scoring import METRICS, greater_is_better


def _best_index(scores: np.ndarray, metric: str, what: str) -> int:
    check_choice("metric", metric, METRICS)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ConfigError(f"{what} must be a non-empty 1-D array (n_layers,), got shape {s.shape}")
    if np.isnan(s).all():
        raise ConfigError(f"every {what} is NaN; no layer can be chosen")
    # ties (within the tolerance of core.choice) go to the shallowest layer: the cheapest
    # encoder to truncate to
    return int(best_index(s, greater_is_better(metric)))


@dataclass(frozen=True)
class Strategy:
    """One ``--selection`` strategy, declared once (:func:`register_strategy`).

    Attributes
    ----------
    name : str, the canonical name (lower case)
    help : str, one line for ``molstrata probe --help``
    aliases : tuple of str, other accepted spellings
    needs_cv : bool, runs the scaffold-grouped CV inside ``train_val``
    needs_linear : bool, trains a linear head (only with ``--probe linear``)
    on_valid : ``func(valid_scores (n_layers,), metric) -> layer`` for strategies that choose
        from the validation scores alone (usable in :func:`select_layer`); None for the CV
        and combination strategies, which :func:`molstrata.probe.strategies.choose` runs
    """

    name: str
    help: str
    aliases: tuple[str, ...] = ()
    needs_cv: bool = False
    needs_linear: bool = False
    on_valid: Callable[[np.ndarray, str], int] | None = field(default=None, compare=False)


#: every strategy of ``molstrata probe --selection``, in the order ``all`` runs them
_REGISTRY: dict[str, Strategy] = {}
#: spelling (name or alias) -> canonical name
_SPELLINGS: dict[str, str] = {}


def _add(strategy: Strategy) -> Strategy:
    spellings = (strategy.name, *strategy.aliases)
    for spelling in spellings:
        if not spelling or spelling != spelling.strip().lower() or "," in spelling or spelling == "all":
            raise ConfigError(f"strategy name {spelling!r}: use a non-empty lower-case name without "
                              "commas, other than 'all'")
        owner = _SPELLINGS.get(spelling)
        if owner is not None and owner != strategy.name:
            raise ConfigError(f"strategy name {spelling!r} is taken by strategy {owner!r}")
    old = _REGISTRY.pop(strategy.name, None)
    for alias in old.aliases if old else ():
        _SPELLINGS.pop(alias, None)
    _REGISTRY[strategy.name] = strategy
    _SPELLINGS.update(dict.fromkeys(spellings, strategy.name))
    return strategy


def register_strategy(name: str, func: Callable[[np.ndarray, str], int], *,
                      aliases: Sequence[str] = (), help: str | None = None) -> Strategy:
    """Add (or replace) a strategy that chooses from the validation scores alone.

    It is then accepted wherever a strategy is: :func:`select_layer` (``strategy=name``),
    :func:`molstrata.probe.probe`, :func:`molstrata.runs.probe.sweep` and ``molstrata probe
    --selection name`` (also in ``all``), and it gets rows in ``selection.csv``.

    Parameters
    ----------
    name : the strategy's name (lower case, no comma)
    func : ``func(valid_scores, metric) -> layer``, valid_scores an ndarray (n_layers,)
    aliases : other spellings
    help : one line for ``--help`` (default: the first line of ``func``'s docstring)
    """
    doc = (func.__doc__ or "").strip().splitlines()
    return _add(Strategy(name, help or (doc[0] if doc else name), tuple(aliases), on_valid=func))


def strategies() -> tuple[Strategy, ...]:
    """Every registered strategy, in the order ``--selection all`` runs them."""
    return tuple(_REGISTRY.values())


def get_strategy(name: str) -> Strategy:
    """The strategy spelled ``name`` (a name or an alias).

    Raises
    ------
    ConfigError
        An unknown name (the message lists the valid ones).
    """
    key = str(name).strip().lower()
    if key not in _SPELLINGS:
        check_choice("--selection", key, [*_REGISTRY, "all", *(a for s in _REGISTRY.values() for a in s.aliases)])
    return _REGISTRY[_SPELLINGS[key]]


def _valid_best(valid_scores: np.ndarray, metric: str) -> int:
    return _best_index(valid_scores, metric, "valid_scores")


for _strategy in (
    Strategy("valid", "best on the seed's validation split", ("valid-best",), on_valid=_valid_best),
    Strategy("cv", "best mean score over scaffold-grouped k-fold CV inside train_val", needs_cv=True),
    Strategy("cv-1se", "the final layer unless a layer beats it by > 1 SE on that CV", needs_cv=True),
    Strategy("concat", "the top-m layers by CV, concatenated (m chosen by the CV)", needs_cv=True),
    Strategy("ensemble", "every layer's probe, weighted by softmax(CV score / tau)", needs_cv=True),
    Strategy("mix", "a scalar mix of the equal-width layers with a linear head", needs_linear=True),
):
    _add(_strategy)

#: the strategy of ``molstrata probe`` and of :func:`molstrata.probe.probe` when none is
#: given; with several strategies, the one whose choice fills ``summary.csv``,
#: ``leaderboard.json`` and ``predictions/`` (the first one given when this one is not among
#: them). Set by the issue-11 study (``selection.csv`` of ``--selection all``, 22 TDC ADMET
#: tasks x 5 seeds, linear probe, MiniMol and molstrata-smiles): ``ensemble`` beat the final
#: layer on 34 of 44 task-encoder pairs (median +1.1% / +1.2%), ``valid`` on 14 (mean -2.8% /
#: -4.1%). No strategy reached mean >= +1% with no task below -2% on both encoders; see the
#: README.
DEFAULT_SELECTION = "ensemble"
#: the built-in strategies (a view of the registry when this module was loaded; the live one
#: is :func:`strategies`)
SELECTIONS = tuple(_REGISTRY)


class _OnValid(Mapping[str, Callable[[np.ndarray, str], int]]):
    """Live view of the registry: spelling -> function, for the strategies that choose from
    validation scores alone."""

    def __getitem__(self, key: str) -> Callable[[np.ndarray, str], int]:
        s = _REGISTRY.get(_SPELLINGS.get(key, ""))
        if s is None or s.on_valid is None:
            raise KeyError(key)
        return s.on_valid

    def __iter__(self) -> Iterator[str]:
        return (sp for s in _REGISTRY.values() if s.on_valid for sp in (s.name, *s.aliases))

    def __len__(self) -> int:
        return sum(1 for _ in self)


#: the strategies that choose from validation scores alone: spelling -> function (a view)
STRATEGIES: Mapping[str, Callable[[np.ndarray, str], int]] = _OnValid()


@dataclass(frozen=True)
class SelectionSpec:
    """The ``--selection`` value, parsed once (:func:`parse_selection`) and passed down.

    It holds the strategies themselves, so that it means the same in a worker process
    (``--executor ray``) that never ran the caller's :func:`register_strategy`.

    Attributes
    ----------
    strategies : tuple of :class:`Strategy`, in the order given, no repeats
    """

    strategies: tuple[Strategy, ...]

    def __post_init__(self) -> None:
        if not self.strategies:
            raise ConfigError(f"--selection is empty; give one of {', '.join(_REGISTRY)} or all")
        if not all(isinstance(s, Strategy) for s in self.strategies):
            raise ConfigError(f"SelectionSpec takes Strategy objects, got {self.strategies!r}; "
                              "use parse_selection('name,...')")

    @classmethod
    def of(cls, value: str | Sequence[str] | SelectionSpec) -> SelectionSpec:
        """``value`` itself when it is a spec already, else :func:`parse_selection` of it."""
        return value if isinstance(value, SelectionSpec) else parse_selection(value)

    @property
    def names(self) -> tuple[str, ...]:
        """The canonical strategy names."""
        return tuple(s.name for s in self.strategies)

    @property
    def needs_cv(self) -> bool:
        """Whether any strategy runs the scaffold-grouped CV."""
        return any(s.needs_cv for s in self.strategies)

    @property
    def needs_linear(self) -> bool:
        """Whether any strategy trains a linear head (only with the linear probe)."""
        return any(s.needs_linear for s in self.strategies)

    @property
    def primary(self) -> str:
        """The strategy whose choice fills ``summary.csv`` and the leaderboard:
        :data:`DEFAULT_SELECTION` when it is among ``names``, else the first one."""
        return DEFAULT_SELECTION if DEFAULT_SELECTION in self.names else self.names[0]

    @property
    def on_valid_only(self) -> bool:
        """One strategy, choosing from validation scores alone (no CV, no combination)."""
        return len(self.names) == 1 and self.strategies[0].on_valid is not None


def parse_selection(selection: str | Sequence[str] | SelectionSpec) -> SelectionSpec:
    """``"all"``, ``"cv"``, ``"valid,cv-1se"`` or a list → a :class:`SelectionSpec` of
    canonical strategy names, in order (``all``: every registered strategy).

    Raises
    ------
    ConfigError
        An unknown name (the message lists the valid ones), or an empty value.
    """
    if isinstance(selection, SelectionSpec):
        return selection
    items = selection.split(",") if isinstance(selection, str) else list(selection)
    names: list[str] = []
    for raw in items:
        name = str(raw).strip().lower()
        if not name:
            continue
        names.extend(_REGISTRY if name == "all" else [get_strategy(name).name])
    return SelectionSpec(tuple(_REGISTRY[n] for n in dict.fromkeys(names)))


def primary_selection(selections: str | Sequence[str] | SelectionSpec) -> str:
    """:attr:`SelectionSpec.primary` of ``selections``."""
    return SelectionSpec.of(selections).primary


def selection_help() -> str:
    """The ``--selection`` help text, from the registry."""
    parts = []
    for s in _REGISTRY.values():
        alias = f"; alias {', '.join(s.aliases)}" if s.aliases else ""
        parts.append(f"{s.name} ({s.help}{alias})")
    return ("How the layer is chosen, never on test: "
            + " | ".join(parts) + "; a comma list or 'all' also writes selection.csv comparing them.")


def _signed(fold_scores: np.ndarray, metric: str, what: str) -> np.ndarray:
    """Fold scores (k, n_layers) as "higher is better" (MAE/RMSE negated), checked."""
    check_choice("metric", metric, METRICS)
    s = np.asarray(fold_scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] == 0 or s.shape[1] == 0:
        raise ConfigError(f"{what} must be a non-empty 2-D array (n_folds, n_layers), got shape {s.shape}")
    return s if greater_is_better(metric) else -s


def cv_means(fold_scores: np.ndarray, metric: str) -> np.ndarray:
    """Mean CV score of each layer over the folds that have one (NaN folds skipped).

    Parameters
    ----------
    fold_scores : ndarray (n_folds, n_layers), the held-out score of each layer in each fold

    Returns
    -------
    ndarray (n_layers,), in the metric's own units (NaN where no fold is finite)
    """
    s = np.asarray(fold_scores, dtype=np.float64)
    _signed(s, metric, "fold_scores")
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(s, axis=0)


def select_cv(fold_scores: np.ndarray, metric: str) -> int:
    """``cv``: the layer with the best mean cross-validated score.

    Parameters
    ----------
    fold_scores : ndarray (n_folds, n_layers), held-out scores of each layer's probe on each
        scaffold-grouped CV fold of ``train_val`` (NaN folds are skipped)
    metric : the task metric (``mae``/``rmse``: lower is better)

    Returns
    -------
    int, the layer; ties go to the shallowest layer

    Examples
    --------
    >>> select_cv(np.array([[0.7, 0.8, 0.75], [0.72, 0.78, 0.8]]), "roc-auc")
    1
    """
    return _best_index(cv_means(fold_scores, metric), metric, "mean CV scores")


def select_cv_1se(fold_scores: np.ndarray, metric: str) -> int:
    """``cv-1se``: keep the final layer unless another layer beats it by more than one
    standard error.

    The rule, exactly: with ``d[f, k] = s[f, k] - s[f, final]`` the per-fold difference of
    layer ``k`` to the final layer (sign-corrected so that positive is better; folds where
    either score is NaN are dropped), layer ``k`` *beats* the final layer when
    ``mean_f d[f, k] > std_f(d[f, k], ddof=1) / sqrt(n_folds)``. Among the layers that beat
    it, the one with the best mean CV score is chosen (ties: the shallowest); when none does
    (or fewer than 2 folds are finite) the final layer is returned.

    Why the standard error of the **paired differences** and not of the candidate's own fold
    scores: scaffold folds differ much more in difficulty than layers differ from each other
    (every layer scores lower on a fold of unusual scaffolds), so each layer's own standard
    error is mostly fold difficulty shared by all layers and would hide real gains. The
    question asked is "does layer k beat the final layer on the same molecules", which is a
    paired comparison. The folds share training molecules, so this standard error is
    optimistic (Nadeau & Bengio, 2003); the rule is a guard against noise, not a test.

    Parameters
    ----------
    fold_scores : ndarray (n_folds, n_layers)
    metric : the task metric

    Returns
    -------
    int, the selected layer; ``n_layers - 1`` when all layers tie

    Examples
    --------
    >>> s = np.array([[0.70, 0.80, 0.75], [0.71, 0.82, 0.74], [0.69, 0.81, 0.76]])
    >>> select_cv_1se(s, "roc-auc")  # layer 1 beats the final layer on every fold
    1
    >>> select_cv_1se(np.full((5, 4), 0.5), "mae")  # all tie: the final layer
    3
    """
    s = _signed(fold_scores, metric, "fold_scores")
    final = s.shape[1] - 1
    diff = s - s[:, [final]]  # (n_folds, n_layers), positive = better than the final layer
    means = np.full(final, np.nan)  # mean CV score of the layers that beat the final one
    for k in range(final):
        d = diff[:, k][np.isfinite(diff[:, k])]
        if d.size < 2:
            continue
        mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))
        if mean > se:
            means[k] = float(np.nanmean(s[:, k]))
    best = best_index(means, higher_is_better=True)  # ties keep the shallower layer
    return final if best is None else int(best)


def select_layer(valid_scores: np.ndarray, metric: str, *, strategy: str = "valid-best") -> int:
    """The layer to use, chosen from **validation** scores only.

    Parameters
    ----------
    valid_scores : ndarray of shape (n_layers,), the validation score of each layer's probe
    metric : ``mae``/``rmse`` (lower is better), ``spearman``, ``roc-auc`` or ``pr-auc``
    strategy : a name in :data:`STRATEGIES`; ``"valid-best"`` (also ``"valid"``) takes the
        arg-best layer, the shallowest one on ties, ignoring NaN scores. The cross-validated
        strategies need fold scores: :func:`select_cv`, :func:`select_cv_1se`

    Returns
    -------
    int, the selected layer index (0 = the embedding layer)

    Examples
    --------
    >>> select_layer(np.array([0.70, 0.80, 0.78]), "roc-auc")
    1
    >>> select_layer(np.array([0.50, 0.40, 0.45]), "mae")
    1
    """
    check_choice("selection strategy", strategy, sorted(STRATEGIES))
    return int(STRATEGIES[strategy](np.asarray(valid_scores, dtype=np.float64), metric))


def oracle_layer(test_scores: np.ndarray, metric: str) -> int:
    """The layer with the best **test** score: the paper's choice, reported only as "oracle".

    Never use it to choose a layer; it measures the optimism of picking on test.

    Parameters
    ----------
    test_scores : ndarray of shape (n_layers,) (e.g. the mean over seeds)
    """
    return _best_index(test_scores, metric, "test_scores")
