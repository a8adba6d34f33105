#!/usr/bin/env bash
# (It ran in /work/scratch beside the harness, with the venvs named below; kept for the record.)
# Decision A/B rounds on the landed code; one JSON summary per run into $OUT.
OUT=${OUT:-/work/scratch/ab.jsonl}
PY=/work/venv312/bin/python; PY10=/work/venv311/bin/python; PT=/work/venvtorch/bin/python
M=/work/shared/data/mnist; S=/work/shared/data/sun80
cd /work/scratch
rec() { # label cmd...
  local label=$1; shift
  local line; line=$("$@" 2>/dev/null | grep "^{" | tail -1)
  echo "{\"label\": \"$label\", \"round\": $ROUND, \"result\": ${line:-null}}" >> $OUT
}
for ROUND in 1 2 3; do
  export ROUND
  rec peer_seed_train $PT ../shared/peers/torch_seed_sr.py --data_dir=$M --steps=300
  rec peer_seed_infer $PT ../shared/peers/torch_seed_sr.py --mode infer --seconds=3
  for off in none ynn malloc conv upsample chunks ynn,malloc,conv,upsample,chunks; do
    rec seed_off_$off $PY decision_harness.py $off --data_dir=$M --steps=300 --model=seed --eval_every=0 --seconds=3
  done
  for t in dot,individual_convolution individual_convolution; do
    XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=$t rec seed_ynn_$t $PY decision_harness.py none --data_dir=$M --steps=300 --model=seed --eval_every=0 --seconds=3
  done
  rec seed_jax010 $PY10 decision_harness.py none --data_dir=$M --steps=300 --model=seed --eval_every=0 --seconds=3
  rec peer_photo_train $PT ../shared/peers/torch_photo_sr.py --data_dir=$S --steps=300 --eval_every=300
  rec peer_photo_infer $PT ../shared/peers/torch_photo_sr.py --mode infer --seconds=3
  for off in none ynn malloc conv chunks ynn,malloc,conv,chunks; do
    rec photo_off_$off $PY decision_harness.py $off --task=photo --data_dir=$S --steps=300 --eval_every=0 --seconds=3
  done
  for t in dot,individual_convolution individual_convolution; do
    XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=$t rec photo_ynn_$t $PY decision_harness.py none --task=photo --data_dir=$S --steps=300 --eval_every=0 --seconds=3
  done
  rec photo_jax010 $PY10 decision_harness.py none --task=photo --data_dir=$S --steps=300 --eval_every=0 --seconds=3
done
echo ALLDONE >> $OUT.done
