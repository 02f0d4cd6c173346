"""Split identity with PyTDC, pinned by checksums computed from PyTDC's own output.

``tests/fixtures/tdc_split_sha256.json`` was written by ``make_tdc_split_checksums.py``
running PyTDC 1.1.15 (RDKit 2023.9.6) on the shared ``admet_group`` files: for every task
and seed 1-5, the sha256 of PyTDC's train and valid rows in PyTDC's order.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from molstrata.data import list_tasks, load_task
from molstrata.data._split import scaffold_groups, scaffold_split_indices

PINNED = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "tdc_split_sha256.json").read_text()
)
FAST = [
    "caco2_wang",
    "herg",
    "dili",
    "hia_hou",
    "half_life_obach",
    "cyp3a4_substrate_carbonmangels",
]


def rows_sha256(frame) -> str:
    lines = (
        f"{i}\t{d}\t{float(y):.6g}"
        for i, d, y in zip(frame.Drug_ID.map(str), frame.Drug, frame.Y, strict=True)
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _check(name: str, data_dir: Path) -> None:
    for seed in range(1, 6):
        split = load_task(name, seed=seed, data_dir=data_dir)
        for part in ("train", "valid"):
            n_rows, digest = PINNED[name][str(seed)][part]
            frame = split.part(part)
            assert (len(frame), rows_sha256(frame)) == (n_rows, digest), (
                f"{name} seed {seed} {part}"
            )


def test_fixture_covers_all_tasks_and_seeds():
    assert sorted(k for k in PINNED if not k.startswith("_")) == list_tasks("admet")
    assert all(sorted(PINNED[t]) == ["1", "2", "3", "4", "5"] for t in list_tasks("admet"))


@pytest.mark.parametrize("name", FAST)
def test_split_matches_pytdc(name, data_dir):
    _check(name, data_dir)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(list_tasks("admet")) - set(FAST)))
def test_split_matches_pytdc_all_tasks(name, data_dir):
    _check(name, data_dir)


def test_unparsable_rows_are_omitted_and_not_counted():
    smiles = [
        "c1ccccc1C",
        "c1ccccc1N",
        "bad(",
        "C1CCCCC1O",
        "CCO",
        "CCN",
        "c1ccncc1",
        "C1CC1",
        "CC",
        "CCC",
    ]
    groups = scaffold_groups(smiles)
    assert groups.failed.tolist() == [2]
    train, valid, test = scaffold_split_indices(groups, seed=1, frac=(0.875, 0.125, 0.0))
    assert 2 not in {*train, *valid, *test} and len(test) == 0
    assert sorted([*train, *valid]) == [0, 1, 3, 4, 5, 6, 7, 8, 9]
    assert len(train) <= int(9 * 0.875)  # sizes from the 9 parsable rows
    # rows sharing a scaffold never straddle parts
    benzene = {0, 1}
    assert benzene <= set(train) or benzene <= set(valid)
    acyclic = {4, 5, 8, 9}  # all have the empty scaffold
    assert acyclic <= set(train) or acyclic <= set(valid)


@pytest.mark.parametrize("name", ["caco2_wang", "herg"])
def test_installed_rdkit_path_matches_pytdc_too(name, data_dir, monkeypatch):
    """Without the shipped groups, grouping with the installed RDKit gives PyTDC's split."""
    from molstrata.data import _admet

    monkeypatch.setattr(_admet, "shipped_groups", lambda task, sha256: None)
    _admet._train_val.cache_clear()
    try:
        _check(name, data_dir)
    finally:
        _admet._train_val.cache_clear()


def test_shipped_groups_are_for_the_official_files(data_dir):
    from molstrata.data._admet import _shipped_table, shipped_groups
    from molstrata.data._source import OFFICIAL_SHA256

    table = _shipped_table()
    assert sorted(table) == list_tasks("admet")
    for name, entry in table.items():
        assert entry["sha256"] == OFFICIAL_SHA256[f"{name}/train_val.csv"]
    assert shipped_groups("dili", "0" * 64) is None  # another file is grouped with RDKit
    raw = (data_dir / "admet_group" / "dili" / "train_val.csv").read_bytes()
    shipped = shipped_groups("dili", hashlib.sha256(raw).hexdigest())
    smiles = pd.read_csv(data_dir / "admet_group" / "dili" / "train_val.csv")["Drug"].tolist()
    assert shipped.groups == scaffold_groups(smiles).groups  # same grouping with today's RDKit
