"""The harness of the decision rounds (experiments/README.md, "What each CPU speed-up gains", "How the set was chosen"), kept for the record.

It ran `python -m flax_srae.benchmark` of commit 09b6b60 (the code before cpu_speedups, checked
out in a worktree at /work/landed) with some of its speed-ups turned off: YNNPACK dots through
XLA_FLAGS, glibc's setting through GLIBC_TUNABLES, the others by replacing the module attributes.
Usage: python decision_harness.py OFF[,OFF...] -- benchmark flags; OFF in ynn, malloc, conv,
upsample, chunks, none. Driven by a shell loop of three rounds (rounds in the record:
2026-12-02-decision.jsonl). The photo peer's rows of that record are empty: the loop looked
for a "summary" key that torch_photo_sr.py does not print.
"""
import os, sys
off = set(sys.argv[1].split(',')) - {'none', ''}
argv = [sys.argv[0]] + sys.argv[2:]
if 'ynn' in off:
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' --xla_cpu_experimental_ynn_fusion_type=').strip()
if 'malloc' in off:
  os.environ['GLIBC_TUNABLES'] = ''
sys.path.insert(0, '/work/landed')
os.chdir('/work/landed')
import flax.linen as nn
from flax_srae import models
from flax_srae import inference
from flax_srae import benchmark
from flax_srae import errors
if 'conv' in off:
  models.Conv = nn.Conv
if 'upsample' in off:
  models.ConvTranspose2x = lambda f, dtype: nn.ConvTranspose(f, (4, 4), strides=(2, 2), padding='SAME', dtype=dtype)
if 'chunks' in off:
  inference.apply_in_chunks = lambda model, params, x, chunk_pixels=0: model.apply({'params': params}, x)
import json
print(json.dumps({'off': sorted(off), 'XLA_FLAGS': os.environ.get('XLA_FLAGS')}), flush=True)
sys.argv = argv
benchmark._define_flags()
errors.run_command(benchmark._main)
