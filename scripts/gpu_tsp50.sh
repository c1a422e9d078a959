#!/usr/bin/env bash
# Continue am_tsp50's POMO training on a GPU and fit its start head again, in one call of the device tool.
#
# The CPU runs reached the flat end of their curve (README, Pointer tours): TSP50 greedy 2.48 %, the target
# 2 %. A GPU runs far larger batches; this script spends one device call (a command may run 10 minutes,
# a session has 15 minutes of device time in all) on that, and writes everything a decision needs to $OUT:
#   am_tsp50.pt/.json/.optim   the continued policy (its card holds the command, seed and curve)
#   am_tsp50_head.pt/.json     the same with a start head fitted again (the continued run drops the old one)
#   train.log, head.log
# From the repo root, with the fast-tsp wheel for Python 3.12 in .whl/ (the device has no fast-tsp; fetch it
# here with: echo /.whl/ >> .git/info/exclude; python3 -m pip download --no-deps --only-binary=:all:
# --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 -d .whl fast-tsp==0.2.2):
#   run(command="bash scripts/gpu_tsp50.sh", carry=[".whl"], timeout_s=600)
# Then judge on the CPU, here, by the ship rule (paired, on instances no decision has seen):
#   python benchmarks/pointer_compare.py <files_at>/am_tsp50.pt --start node0    policy against policy
#   python benchmarks/pointer_compare.py <files_at>/am_tsp50_head.pt             with their heads
# and ship the head version when it wins (copy .pt, .json and .optim into assets/checkpoints/pointer/).
# Settings by environment: MINUTES (training wall time, default 6), SEED (40), BATCH (256 instances of
# 50 rollouts each), LR (3e-5, cosine to LR_FINAL 3e-6 over the minutes), HEAD_INSTANCES (64000),
# DEVICE (cuda), PYTHON (python3), OUT (/tmp/gpu_tsp50 when the device tool does not set it).
set -euo pipefail
OUT=${OUT:-/tmp/gpu_tsp50}
SEED=${SEED:-40}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
"$PY" -c "import torch, fast_tsp; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
"$PY" scripts/train_pointer.py --task tsp --model am --n-min 50 --n-max 50 --hidden 128 --layers 3 --steps 0 \
  --pomo-steps 1000000 --pomo-batch "${BATCH:-256}" --pomo-lr "${LR:-3e-5}" --pomo-lr-final "${LR_FINAL:-3e-6}" \
  --seed "$SEED" --eval-ns 50 --eval-num 200 --eval-methods greedy --save-seconds 120 --minutes "${MINUTES:-6}" \
  --threads 8 --device "$DEVICE" --init assets/checkpoints/pointer/am_tsp50.pt --out "$OUT/am_tsp50.pt" \
  2>&1 | tee "$OUT/train.log"
"$PY" scripts/train_start_head.py --checkpoint "$OUT/am_tsp50.pt" --out "$OUT/am_tsp50_head.pt" \
  --seed "$((SEED + 1))" --instances "${HEAD_INSTANCES:-64000}" --threads 8 --device "$DEVICE" 2>&1 | tee "$OUT/head.log"
rm -f "$OUT/am_tsp50_head.optim"  # a copy of am_tsp50.optim; the device tool brings back 8 files at most
