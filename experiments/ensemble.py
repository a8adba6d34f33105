"""What the self-ensemble (`upscale(..., ensemble=True)`, EDSR's "+") gains and costs for the
shipped models, on their eval data and protocols.

  python experiments/ensemble.py RECORD.jsonl
  python experiments/ensemble.py RECORD.jsonl --table     (the table of RECORD.jsonl only)

Quality: `python -m flax_srae.evaluate --workdir=pretrained:NAME` with and without
`--ensemble` (pretrained:photo on sun80 files [70, 80), whole images, Y, shave 2;
pretrained:mnist on MNIST [8000, 10000)). Cost: the wall time of the model on the same inputs
with the command-line tools' CPU settings, after a pass over all of them (so compiling for
each size is left out): for the photo model `Upscaler.apply` on each photo's luma (the model's
part of `upscale`; a colour photo's chroma, done once either way, is left out), for the
digits `Upscaler.upscale` on all of them in one call. Appends one row per model to
RECORD.jsonl and prints the table.
"""
import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
DATA = {'photo': os.path.join(ROOT, '..', 'shared', 'data', 'sun80'),
        'mnist': os.path.join(ROOT, '..', 'shared', 'data', 'mnist')}


def _inputs(upscaler, data_dir):
  """The model inputs of its eval split: a list of arrays, each one `upscale` call."""
  import numpy as np
  from flax_srae.data import image_ops
  from flax_srae.data import input_pipeline
  config = upscaler.config.copy_and_resolve_references()
  config.data_dir = data_dir
  data = input_pipeline.load_eval(config)
  if config.protocol == 'literature':  # (low, high) pairs of whole images, luma
    return [low_res[None] for low_res, _ in data]
  return [np.asarray(image_ops.degrade(np.asarray(data), config.degradation))]


def _seconds(upscaler, inputs, ensemble: bool) -> float:
  # The literature protocol's inputs are the model's own space (studio-range luma): `apply`.
  run = upscaler.apply if upscaler.studio_luma else upscaler.upscale
  for x in inputs:  # compiles for every size (and, for the ensemble, its transpose)
    run(x, ensemble=ensemble)
  t0 = time.perf_counter()
  for x in inputs:
    run(x, ensemble=ensemble)
  return time.perf_counter() - t0


def table(rows) -> str:
  lines = ['| model | eval data | PSNR dB | with `--ensemble` | gain dB | model s | '
           'with `--ensemble` | cost |', '|---|---|---|---|---|---|---|---|']
  for r in rows:
    lines.append(f'| `pretrained:{r["model"]}` | {r["data"]} | {r["psnr"]:.2f} | '
                 f'{r["psnr_ensemble"]:.2f} | {r["psnr_ensemble"] - r["psnr"]:+.2f} | '
                 f'{r["seconds"]:.2f} | {r["seconds_ensemble"]:.2f} | '
                 f'{r["seconds_ensemble"] / r["seconds"]:.1f}x |')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('record')
  parser.add_argument('--table', action='store_true')
  args = parser.parse_args()
  if not args.table:
    from flax_srae.platform import cpu_speedups
    cpu_speedups.configure()  # before JAX starts, as the command-line tools do
    import jax
    import flax_srae
    from flax_srae import evaluate
    for name, data_dir in DATA.items():
      upscaler = flax_srae.load(f'pretrained:{name}')
      inputs = _inputs(upscaler, data_dir)
      with tempfile.TemporaryDirectory() as tmp:
        psnr = {e: evaluate.evaluate(f'pretrained:{name}', data_dir=data_dir, output_dir=tmp,
                                     ensemble=e)['methods']['model']['psnr']
                for e in (False, True)}
      row = {'model': name, 'jax_version': jax.__version__,
             'data': ('sun80 [70, 80), whole, Y, shave 2' if name == 'photo'
                      else 'MNIST [8000, 10000)'),
             'psnr': psnr[False], 'psnr_ensemble': psnr[True],
             'seconds': _seconds(upscaler, inputs, False),
             'seconds_ensemble': _seconds(upscaler, inputs, True)}
      print(json.dumps(row), flush=True)
      with open(args.record, 'a') as f:
        f.write(json.dumps(row) + '\n')
  with open(args.record) as f:
    print(table([json.loads(line) for line in f if line.strip()]))


if __name__ == '__main__':
  main()
