"""Scale: a 100k x 13 x 768 float32 set (4 GB) goes through the cache without sitting in
RAM twice. Peak anonymous memory (RssAnon,
sampled every 50 ms; memory-mapped file pages are page cache, not counted) must stay under
half the result. Slow (writes ~8 GB); run with ``pytest -m slow tests/embeddings``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import sys, threading, time
    import numpy as np, torch
    from molstrata.encoders.base import BatchStates, Encoder
    from molstrata.embeddings import embed_cached

    class Wide(Encoder):
        """13 layers x 768; molecule i's state is a function of its string only."""
        name, num_layers = "wide", 12
        def _sizes(self, smiles):
            return np.ones(len(smiles), dtype=np.int64)
        def _forward(self, smiles):
            seeds = torch.tensor([hash(s) % 1000 for s in smiles], dtype=torch.float32)
            base = seeds[:, None, None] + torch.arange(768, dtype=torch.float32)
            hidden = [base + k for k in range(13)]
            return BatchStates(hidden=hidden, mask=torch.ones(len(smiles), 1, dtype=torch.bool))

    def anon_kb():
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
        return 0

    peak = [0]
    def watch():
        while True:
            peak[0] = max(peak[0], anon_kb())
            time.sleep(0.05)
    threading.Thread(target=watch, daemon=True).start()

    n = 100_000
    c = lambda j: "C" * j
    smiles = [f"C{c(i % 20)}N{c((i // 20) % 20)}O{c((i // 400) % 20)}S{c(i // 8000)}" for i in range(n)]
    assert len(set(smiles)) == n
    emb = embed_cached(Wide(), smiles, cache_dir=sys.argv[1], canonicalize=False, batch_size=1024)
    assert all(isinstance(x, np.memmap) for x in emb), "large results must be memmaps"
    assert emb[12].shape == (n, 768)
    row = 54_321
    assert float(emb[12][row, 5]) == (hash(smiles[row]) % 1000) + 5 + 12
    time.sleep(0.2)
    peak_gb = peak[0] * 1024 / 1e9
    total_gb = n * 13 * 768 * 4 / 1e9
    print(f"peak anonymous RSS {peak_gb:.2f} GB for a {total_gb:.1f} GB result")
    assert peak_gb < 0.5 * total_gb, peak_gb
''')


@pytest.mark.slow
def test_100k_x_13_x_768_does_not_need_twice_the_ram(tmp_path):
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "cache")], capture_output=True, text=True,
        env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"}, timeout=3000,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    print(res.stdout)
