"""Issue 20: a probe run lists the molecules its encoder cut (or could not parse) in
``notes/molecules.csv`` (task, Drug_ID, SMILES, reason)."""

from __future__ import annotations

import pandas as pd

from molstrata.data import load_task
from molstrata.data.smiles import parse_smiles
from molstrata.runs import sweep

LIMIT = 60


def test_probe_run_writes_truncated_molecules(make_hash_encoder, data_dir, tmp_path):
    enc = make_hash_encoder("short-encoder")
    enc.max_length = LIMIT  # sizes are SMILES lengths (Encoder._size)
    run = sweep([enc], "hia_hou", [1], out=tmp_path, data_dir=data_dir, report=False,
                progress=False, strategy="valid")
    notes = pd.read_csv(tmp_path / "notes" / "molecules.csv")
    assert {"task", "Drug_ID", "SMILES", "reason"} <= set(notes.columns)
    split = load_task("hia_hou", 1, data_dir)
    frame = pd.concat([split.train, split.valid, split.test], ignore_index=True)
    canonical = parse_smiles(frame["Drug"].tolist(), on_invalid="mask").canonical
    sizes = pd.Series([len(c) for c in canonical], index=frame.index)  # sizes of what is embedded
    long = frame[sizes > LIMIT].drop_duplicates(["Drug_ID", "Drug"])
    assert len(long) > 0
    assert sorted(notes["SMILES"]) == sorted(long["Drug"])
    assert sorted(notes["Drug_ID"].astype(str)) == sorted(long["Drug_ID"].astype(str))
    assert (notes["task"] == "hia_hou").all()
    assert notes["reason"].str.startswith(f"truncated: longer than {LIMIT}").all()
    assert any("notes/molecules.csv" in n for n in run.notes)


def test_no_notes_file_when_every_molecule_is_whole(hash_encoder, data_dir, tmp_path):
    sweep([hash_encoder], "hia_hou", [1], out=tmp_path, data_dir=data_dir, report=False,
          progress=False, strategy="valid")
    assert not (tmp_path / "notes" / "molecules.csv").exists()
