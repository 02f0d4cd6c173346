"""Issue #22, the cold run: with a local pool, the ECFP4 baseline's fingerprints are computed
by the workers and its cells (which need no embeddings) handed to them before this process
embeds, and a cold run (empty embeddings cache) with two workers writes the same tables,
byte for byte, as one process."""

from __future__ import annotations

import os

from molstrata.runs import sweep
from molstrata.scale import LocalExecutor

TASKS = "hia_hou,caco2_wang"
TABLES = ("probe_results.csv", "summary.csv", "selection.csv", "baseline.csv")


class _Recording(LocalExecutor):
    """A local pool that logs the name of each function it is handed (map or submit)."""

    def __init__(self, events: list[str]) -> None:
        super().__init__(2, start_method="spawn")
        self.events = events

    def map(self, fn, items, **kwargs):
        self.events.append(fn.__name__)
        return super().map(fn, items, **kwargs)

    def submit(self, fn, items, **kwargs):
        self.events.append(fn.__name__)
        return super().submit(fn, items, **kwargs)


def test_a_cold_run_with_two_workers_fits_the_baseline_while_embedding(hash_encoder, data_dir, tmp_path,
                                                                       monkeypatch):
    from molstrata.runs import probe as probe_run

    kw = dict(data_dir=data_dir, report=False, progress=False, baseline="ecfp")
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path / "cache_one"))
    sweep([hash_encoder], TASKS, [1, 2], out=tmp_path / "one", **kw)

    events: list[str] = []
    real_embed = probe_run._embeddings.embed_cached

    def embed(*args, **kwargs):
        events.append("embed")
        return real_embed(*args, **kwargs)

    monkeypatch.setattr(probe_run._embeddings, "embed_cached", embed)
    monkeypatch.setattr("molstrata.runs._baseline._MIN_SLICE", 100)  # the workers fingerprint slices
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path / "cache_two"))  # cold again
    with _Recording(events) as pool:
        sweep([hash_encoder], TASKS, [1, 2], out=tmp_path / "two", executor=pool, **kw)
    assert "_fit_job" in events and events.index("_fit_job") < events.index("embed"), events
    assert events.index("embed") < events.index("_probe_cell"), events
    assert events.index("ecfp_count_rows") < events.index("_fit_job"), events  # the fingerprint slices
    for name in TABLES:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name


def test_a_local_pool_makes_idle_openmp_threads_sleep(monkeypatch):
    """The main process's torch threads must not spin on the cores its workers use."""
    from molstrata.scale import from_cli

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert from_cli("local", n_jobs=1)[0] is None
    assert "OMP_WAIT_POLICY" not in os.environ  # one process: its threads are left as they are
    pool, _ = from_cli("local", n_jobs=2)
    pool.close()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's own setting is kept
    from_cli("local", n_jobs=2)[0].close()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
