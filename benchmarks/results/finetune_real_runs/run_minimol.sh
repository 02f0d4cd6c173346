#!/usr/bin/env bash
# Issue 23's MiniMol runs, as amended on 2026-12-07 (benchmarks/results/README.md, "Plan
# amendment 2"): one run root per seed, here, committed as it fills (checkpoints/ stay out of
# git), so a later session resumes from the finished cells. Needs a Ray head (ray start --head
# --num-cpus 2) and MOLSTRATA_DATA_DIR. The same command resumes.
#   bash benchmarks/results/finetune_real_runs/run_minimol.sh SEED
set -euo pipefail
seed=${1:?usage: run_minimol.sh SEED}
here=$(dirname "$0")
export OMP_NUM_THREADS=1
exec python "$here/../../finetune_real.py" run --encoder minimol --seeds "$seed" --depths 4,8,12 \
    --best-frozen --frozen-seeds 1-3 --lrs 1e-4,3e-4,1e-3,3e-3,1e-2 --extend-down 3e-5,1e-5 \
    --executor ray --ray-address auto --device cpu --out "$here/minimol_s$seed" --quiet
