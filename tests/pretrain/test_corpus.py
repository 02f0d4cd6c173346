"""The corpus removes every TDC ADMET test molecule (matched by canonical SMILES)."""

from __future__ import annotations

import csv
import functools
import json

from rdkit import Chem

from molstrata.pretrain.corpus import build_corpus, load_corpus


def _first_test_smiles(data_dir, task, n):
    with (data_dir / "admet_group" / task / "test.csv").open() as fh:
        return [row["Drug"] for _, row in zip(range(n), csv.DictReader(fh), strict=False)]


def test_corpus_removes_tdc_test_molecules(data_dir, small_smiles, tmp_path):
    leaked = _first_test_smiles(data_dir, "caco2_wang", 5) + _first_test_smiles(data_dir, "herg", 5)
    # write the leaked molecules in a non-canonical form (randomised atom order)
    disguised = []
    for i, s in enumerate(leaked):
        mol = Chem.MolFromSmiles(s)
        disguised.append(Chem.MolToRandomSmilesVect(mol, 1, randomSeed=i + 7)[0])
    src = tmp_path / "src.txt"
    src.write_text("\n".join(small_smiles + disguised) + "\n")

    info = build_corpus([src], tmp_path / "corpus", data_dir=data_dir, n_valid=5, seed=0, progress=False)

    leaked_canon = {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in leaked}
    clean_canon = {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in small_smiles}
    expected_removed = len(leaked_canon) + len(clean_canon & _all_test(data_dir))
    assert info.n_removed_tdc_test == expected_removed
    train, valid, meta = load_corpus(tmp_path / "corpus")
    assert not (set(train) | set(valid)) & leaked_canon
    assert len(valid) == 5
    assert len(train) + len(valid) == len(clean_canon - _all_test(data_dir))
    assert json.loads((tmp_path / "corpus" / "corpus.json").read_text())["n_removed_tdc_test"] == expected_removed
    assert meta["sha256_train"] and len(meta["sha256_train"]) == 64


@functools.lru_cache(maxsize=1)
def _all_test(data_dir):
    out = set()
    for f in (data_dir / "admet_group").glob("*/test.csv"):
        with f.open() as fh:
            for row in csv.DictReader(fh):
                mol = Chem.MolFromSmiles(row["Drug"])
                if mol is not None:
                    out.add(Chem.MolToSmiles(mol))
    return out
