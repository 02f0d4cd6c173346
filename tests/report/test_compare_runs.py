"""benchmarks/compare_runs.py: numbers within a relative tolerance, choices byte-equal."""

from __future__ import annotations

from bench_scripts import load_benchmark

HEADER = "encoder,task,seed,choice,test_score,info\n"


def _run(folder, rows):
    (folder / "predictions").mkdir(parents=True)
    (folder / "selection_seeds.csv").write_text(HEADER + "".join(rows))
    (folder / "predictions" / "t_seed1.csv").write_text("Drug_ID,Y,Y_pred\n1,0.0,0.25\n")


def test_compare_runs_tolerance_and_choices(tmp_path, capsys):
    cmp = load_benchmark("compare_runs")
    base = ['g,caco2_wang,1,ens t=5,0.5,"{""cv_mean"": [0.25, 0.5]}"\n']
    _run(tmp_path / "a", base)
    _run(tmp_path / "b", ['g,caco2_wang,1,ens t=5,0.50000000001,"{""cv_mean"": [0.25, 0.5000000000001]}"\n'])
    assert cmp.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0  # 2e-11 relative
    assert cmp.main([str(tmp_path / "a"), str(tmp_path / "b"), "--tol", "1e-12"]) == 1
    assert "test_score: relative deviation 2e-11" in capsys.readouterr().out
    _run(tmp_path / "c", ['g,caco2_wang,1,ens t=0 (4),0.5,"{""cv_mean"": [0.25, 0.5]}"\n'])
    assert cmp.main([str(tmp_path / "a"), str(tmp_path / "c")]) == 1
    assert "choice: 'ens t=5' vs 'ens t=0 (4)' (choice differs)" in capsys.readouterr().out
    _run(tmp_path / "d", base + base)
    assert cmp.main([str(tmp_path / "a"), str(tmp_path / "d")]) == 1
    assert "1 rows vs 2" in capsys.readouterr().out
