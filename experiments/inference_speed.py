"""Inference time of upscaling networks against the first one named, in interleaved rounds.

  python experiments/inference_speed.py RECORD.jsonl CONFIG_OR_RUN [CONFIG_OR_RUN ...]
                                        [--rounds=5] [--seconds=3]

Each CONFIG_OR_RUN is a config file (its network freshly initialised: the time does not depend
on the weights), a training workdir or pretrained:NAME. Every round times, one model after the other,
`flax_srae.load(...).upscale` as a user calls it, with the CPU settings the command-line
tools make (`cpu_speedups.configure()`), on the same three inputs for every model: one 256x256
image, 16 of 64x64, and one 1024x768 photo (sun80's size, so in tiles with the model's own
overlap). Each figure is the median of as many calls as fit in --seconds, compile excluded;
the models take turns going first, round by round. The ratio to the first model is taken
within each round, and the range over the rounds is printed, since the machine drifts between
rounds. Each round's figures are appended to RECORD.jsonl.
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import flax_srae  # pylint: disable=wrong-import-position
from flax_srae import inference  # pylint: disable=wrong-import-position
from flax_srae import models  # pylint: disable=wrong-import-position
from flax_srae.platform import cpu_speedups  # pylint: disable=wrong-import-position

INPUTS = {'256x256': (1, 256, 256), '16x64x64': (16, 64, 64), '1024x768': (1, 768, 1024)}


def _from_config(path: str) -> inference.Upscaler:
  spec = importlib.util.spec_from_file_location('config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  variables = jax.jit(models.create_model(config).init)(jax.random.key(0),
                                                        jnp.zeros((1, 8, 8, config.channels)))
  return inference.Upscaler(config, variables['params'], step=0)


def _load(name: str) -> inference.Upscaler:
  return _from_config(name) if name.endswith('.py') else flax_srae.load(name)


def _seconds_per_call(upscale, x, budget: float) -> float:
  upscale(x)  # compile
  times, start = [], time.perf_counter()
  while time.perf_counter() - start < budget or len(times) < 3:
    t = time.perf_counter()
    upscale(x)
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('record')
  parser.add_argument('models', nargs='+')
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--seconds', type=float, default=3.0)
  args = parser.parse_args()
  if len(set(args.models)) < 2 or len(set(args.models)) < len(args.models):
    sys.exit('error: name at least two different models: the first is the one the others are '
             'timed against')
  if args.rounds < 1 or args.seconds <= 0:
    sys.exit(f'error: --rounds ({args.rounds}) must be >= 1 and --seconds ({args.seconds}) > 0')
  cpu_speedups.configure()  # before the first JAX computation, as the command-line tools do
  upscalers = {name: _load(name) for name in args.models}
  channels = {u.config.channels for u in upscalers.values()}
  if len(channels) > 1:
    sys.exit(f'error: the models take different channel counts ({sorted(channels)}): compare '
             f'models of one kind')
  rng, c = np.random.default_rng(0), channels.pop()
  inputs = {i: rng.random(shape + (c,), dtype=np.float32)
            for i, shape in INPUTS.items()}
  ratios = {(m, i): [] for m in args.models[1:] for i in INPUTS}
  for r in range(args.rounds):
    for i, x in inputs.items():
      row = {'round': r, 'input': i}
      turn = r % len(args.models)  # who goes first moves round by round
      for name in args.models[turn:] + args.models[:turn]:
        row[name] = _seconds_per_call(upscalers[name].upscale, x, args.seconds)
      for name in args.models[1:]:
        ratios[name, i].append(row[name] / row[args.models[0]])
      print(json.dumps(row), flush=True)
      with open(args.record, 'a') as f:
        f.write(json.dumps(row) + '\n')
  for (name, i), r in ratios.items():
    print(f'{name} / {args.models[0]}, {i}: {min(r):.2f}-{max(r):.2f}x the time '
          f'over {len(r)} rounds')


if __name__ == '__main__':
  main()
