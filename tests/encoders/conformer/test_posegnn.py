"""Pos-EGNN: its code is not on PyPI, so it is listed with a card and refused clearly."""

from __future__ import annotations

import pytest

from molstrata import load_encoder
from molstrata.core.errors import MolstrataError, OptionalDependencyError
from molstrata.encoders.registry import get_card, registered_names


def test_listed_with_an_honest_card():
    assert "pos-egnn" in registered_names()
    card = get_card("pos-egnn")
    assert card.kind == "3d" and card.num_layers == 4
    assert card.weights_present is False
    assert "not on PyPI" in card.source and "not adapted" in card.verified


def test_loading_refuses_and_says_why():
    with pytest.raises(OptionalDependencyError, match="not on PyPI") as info:
        load_encoder("pos-egnn", device="cpu")
    assert isinstance(info.value, MolstrataError)
    assert "unimol-v1" in str(info.value)  # points to adapted alternatives


def test_cli_lists_every_adapter(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from molstrata.cli import app

    monkeypatch.setenv("UNIMOL_WEIGHT_DIR", str(tmp_path))  # empty folders: no weights
    monkeypatch.setenv("ORB_WEIGHT_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["encoders", "--json"])
    assert result.exit_code == 0, result.output
    import json

    rows = {r["name"]: r for r in json.loads(result.output)}
    for name in ("pos-egnn", "unimol-v1", "orb-v3-direct", "orb-v3-conservative", "chemgpt-4.7m",
                 "molformer-xl", "chemberta-77m-mlm", "chemberta-zinc-base", "unimol2-84m"):
        assert rows[name]["status"] == "ok", rows[name]
        assert isinstance(rows[name]["weights_present"], bool)
    for name in ("pos-egnn", "unimol-v1", "orb-v3-direct", "orb-v3-conservative", "unimol2-84m"):
        assert rows[name]["weights_present"] is False


@pytest.mark.parametrize(
    ("name", "module"), [("unimol-v1", "unimol_tools"), ("unimol2-84m", "unimol_tools"),
                         ("orb-v3-direct", "orb_models")],
)
def test_missing_3d_packages_give_the_install_line(name, module, monkeypatch):
    import sys

    for mod in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(OptionalDependencyError, match="--no-deps"):
        load_encoder(name, random_init=True, device="cpu")
