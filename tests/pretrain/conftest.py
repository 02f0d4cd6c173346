"""Small corpora for the pretraining tests (read from the shared data, never copied)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_smiles(data_dir: Path) -> list[str]:
    """60 ChEMBL SMILES from the shared unlabeled corpus."""
    path = data_dir / "unlabeled_smiles" / "chembl31_ozcelik_via_chem_xlstm" / "valid.txt"
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return lines[:60]


@pytest.fixture(scope="session")
def small_corpus_file(small_smiles, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus_src") / "small.txt"
    path.write_text("\n".join(small_smiles) + "\n")
    return path


@pytest.fixture(scope="session")
def small_corpus_dir(small_corpus_file, data_dir, tmp_path_factory) -> Path:
    """The small corpus built once (TDC test molecules removed), as a corpus folder."""
    from molstrata.pretrain.corpus import build_corpus

    out = tmp_path_factory.mktemp("small_corpus")
    build_corpus([small_corpus_file], out, data_dir=data_dir, n_valid=8, seed=0, progress=False)
    return out
