#!/usr/bin/env bash
# Reproduces README's results table: trains each config from scratch and prints one line per run
# with its wall time (start to finish, compile and evaluation included) and results.json figures.
#   bash experiments/run.sh [OUT_DIR] [RUN_NAME ...]      (run names: see RUNS below)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/flax_srae_experiments}
shift || true
mnist=(--config.dataset=idx --config.data_dir=../shared/data/mnist
       --config.train_split='test[:8000]' --config.eval_split='test[8000:]')
declare -A RUNS=(
  [sr28]="--config=configs/sr28.py"
  [sr56]="--config=configs/sr56.py"
  [ae28]="--config=configs/ae28.py"
  [mnist_edsr]="--config=configs/sr28.py ${mnist[*]}"
  [mnist_seed_residual]="--config=configs/sr28.py ${mnist[*]} --config.model=seed_residual"
  [mnist_seed]="--config=configs/sr28.py ${mnist[*]} --config.model=seed"
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(sr28 sr56 ae28 mnist_edsr mnist_seed_residual mnist_seed)
mkdir -p "$out"
for name in "${names[@]}"; do
  [ -n "${RUNS[$name]:-}" ] || { echo "error: unknown run $name (one of ${!RUNS[*]})" >&2; exit 1; }
  if [ -e "$out/$name" ]; then
    echo "error: $out/$name exists; a resumed run would not time a fresh one: pick another OUT_DIR" >&2
    exit 1
  fi
  start=$(date +%s)
  # shellcheck disable=SC2086  # the flags are words
  python -m flax_srae.main --workdir="$out/$name" ${RUNS[$name]} 2>"$out/$name.log"
  python - "$out/$name/results.json" "$name" "$(( $(date +%s) - start ))" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); e = r['eval']
print(f"{sys.argv[2]:20s} {r['model']:14s} steps {r['step']:5d}  wall {sys.argv[3]:>4s}s  "
      f"{r['train']['images_per_sec']:5.0f} img/s  psnr {e['psnr']:.2f} dB  ssim {e['ssim']:.4f}  "
      f"bicubic {e['bicubic_psnr']:.2f} dB / {e['bicubic_ssim']:.4f}  (+{e['psnr'] - e['bicubic_psnr']:.2f} dB)",
      flush=True)
PY
done
