"""One selection registry (issue 18): each strategy declared once; the CLI's help, the
value's parsing and the defaults all come from it."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from molstrata.cli import app
from molstrata.core.errors import ConfigError
from molstrata.probe import selection
from molstrata.probe.selection import (
    DEFAULT_SELECTION,
    STRATEGIES,
    SelectionSpec,
    parse_selection,
    register_strategy,
    select_layer,
    strategies,
)


@pytest.fixture
def registry(monkeypatch):
    """The registry, restored after the test."""
    monkeypatch.setattr(selection, "_REGISTRY", dict(selection._REGISTRY))
    monkeypatch.setattr(selection, "_SPELLINGS", dict(selection._SPELLINGS))


def _final(valid_scores: np.ndarray, metric: str) -> int:
    """the final layer, whatever the scores"""
    return len(valid_scores) - 1


def test_each_strategy_declared_once_with_its_needs():
    table = {s.name: (s.aliases, s.needs_cv, s.needs_linear, s.on_valid is not None) for s in strategies()}
    assert table == {
        "valid": (("valid-best",), False, False, True),
        "cv": ((), True, False, False),
        "cv-1se": ((), True, False, False),
        "concat": ((), True, False, False),
        "ensemble": ((), True, False, False),
        "mix": ((), False, True, False),
    }
    assert sorted(STRATEGIES) == ["valid", "valid-best"]  # a view of the registry


def test_spec_is_frozen_and_parsed_once():
    spec = parse_selection("ensemble, valid-best,cv")
    assert spec.names == ("ensemble", "valid", "cv")
    assert spec == SelectionSpec(tuple(selection.get_strategy(n) for n in ("ensemble", "valid-best", "cv")))
    assert spec.needs_cv and not spec.needs_linear and spec.primary == "ensemble"
    assert parse_selection(spec) is spec and SelectionSpec.of(spec) is spec
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.strategies = ()
    assert parse_selection("mix").needs_linear and not parse_selection("mix").needs_cv
    assert parse_selection("valid").on_valid_only and not parse_selection("valid,cv").on_valid_only
    with pytest.raises(ConfigError, match="--selection"):
        parse_selection("test-best")
    with pytest.raises(ConfigError, match="empty"):
        parse_selection(" , ")


def test_one_default_in_the_api_and_the_cli():
    from molstrata.cli.probe import probe_command
    from molstrata.probe import probe
    from molstrata.runs.probe import sweep

    assert DEFAULT_SELECTION == "ensemble"
    assert inspect.signature(probe).parameters["strategy"].default == DEFAULT_SELECTION
    assert inspect.signature(sweep).parameters["strategy"].default == DEFAULT_SELECTION
    assert inspect.signature(probe_command).parameters["strategy"].default.default == DEFAULT_SELECTION


def test_cli_help_comes_from_the_registry():
    out = CliRunner().invoke(app, ["probe", "--help"], terminal_width=400).output
    for s in strategies():
        assert s.name in out
    assert "valid-best" in out


def test_registered_strategy_is_usable_everywhere(registry, monkeypatch):
    register_strategy("final", _final, aliases=("last",))
    assert select_layer(np.array([0.9, 0.1, 0.2]), "roc-auc", strategy="last") == 2
    spec = parse_selection("final,valid")
    assert spec.names == ("final", "valid") and not spec.needs_cv
    assert "final" in parse_selection("all").names
    # from the command line: the value reaches the sweep as the parsed spec
    seen = {}

    def fake_sweep(*args, strategy, **kw):
        seen["strategy"] = strategy
        raise ConfigError("stop here")

    import molstrata.runs.probe

    monkeypatch.setattr(molstrata.runs.probe, "sweep", fake_sweep)
    r = CliRunner().invoke(app, ["probe", "--tasks", "caco2_wang", "--selection", "last", "--out", "x"])
    assert isinstance(r.exception, ConfigError) and seen["strategy"].names == ("final",)


def test_spec_travels_to_a_worker_without_the_registration(registry, monkeypatch):
    register_strategy("final", _final)
    blob = pickle.dumps(parse_selection("final,cv"))
    monkeypatch.setattr(selection, "_REGISTRY", {})  # a worker that never registered it
    spec = pickle.loads(blob)
    assert spec.names == ("final", "cv") and spec.needs_cv and spec.strategies[0].on_valid is _final


def test_registered_strategy_chooses_in_choose(registry):
    from molstrata.probe._probe import LayerCell
    from molstrata.probe.strategies import choose

    register_strategy("final", _final)
    cells = {k: LayerCell(valid_score=s, param=1.0, test_pred=np.full(3, float(k)))
             for k, s in enumerate([0.9, 0.1, 0.2])}
    data = SimpleNamespace(y_train=np.zeros(2), y_valid=np.ones(1))  # no CV: no rows needed
    got = choose(data, cells, selections="final,valid", task_type="classification", metric="roc-auc", seed=1)
    assert (got["final"].layer, got["valid"].layer) == (2, 0)


def test_names_cannot_collide(registry):
    with pytest.raises(ConfigError, match="taken by strategy 'valid'"):
        register_strategy("valid-best", _final)
    with pytest.raises(ConfigError, match="'all'"):
        register_strategy("all", _final)
