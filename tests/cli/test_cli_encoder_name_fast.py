"""Issue 20, errors: an unknown encoder name fails at parse time, in every command that takes
``--encoder``: one line with "did you mean", exit code 2, before torch or transformers is
imported and before any data is read (the data folder given does not even exist)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import molstrata

SRC = str(Path(molstrata.__file__).resolve().parents[1])  # the molstrata under test

#: every command that takes --encoder, the bad name first, then what else it requires
COMMANDS = {
    "probe": ["probe", "-e", "minimoll", "-t", "hia_hou", "-s", "1", "-o", "{tmp}/probe"],
    "embed": ["embed", "-e", "minimoll", "-t", "hia_hou", "-o", "{tmp}/embed"],
    "analyze": ["analyze", "-e", "minimoll", "-t", "hia_hou", "-o", "{tmp}/analyze"],
    "finetune": ["finetune", "-e", "minimoll", "-t", "hia_hou", "-o", "{tmp}/finetune"],
    "predict": ["predict", "-e", "minimoll", "-m", "{tmp}", "-i", "{tmp}/x.csv", "-o", "{tmp}/p.csv"],
}

#: runs each command through molstrata.cli.main in one fresh interpreter; prints JSON
SCRIPT = """
import contextlib, io, json, sys
from molstrata.cli import main
found = {}
for name, args in json.loads(sys.argv[1]).items():
    sys.argv = ["molstrata", *args]
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    found[name] = {"code": code, "err": err.getvalue(),
                   "heavy": sorted(m for m in ("torch", "transformers", "rdkit") if m in sys.modules)}
print(json.dumps(found))
"""


def test_unknown_encoder_fails_before_heavy_imports_in_every_command(tmp_path):
    (tmp_path / "x.csv").write_text("smiles\nCCO\n")
    commands = {k: [a.format(tmp=tmp_path) for a in v] for k, v in COMMANDS.items()}
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200",
           "MOLSTRATA_DATA_DIR": str(tmp_path / "no-such-data")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(commands)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    for name, got in found.items():
        lines = got["err"].strip().splitlines()
        assert got["code"] == 2, (name, got)
        assert len(lines) == 1 and lines[0].startswith("error: unknown encoder 'minimoll'"), (name, got)
        assert "Did you mean 'minimol'" in lines[0], (name, got)
        assert "no-such-data" not in lines[0], (name, got)
        assert got["heavy"] == [], (name, got)  # nothing heavy imported by any command so far
