"""Speed benchmark on the PyTorch peer's protocol (../shared/peers/torch_seed_sr.py).

  python -m flax_srae.benchmark --data_dir=../shared/data/mnist [--steps=N] [--model=NAME]
                                [--target_psnr=DB] [--eval_every=50]

Protocol, as the peer's: MNIST t10k IDX files, images [0, 8000) train and [8000, 10000) eval,
2x2 area degradation (14x14 -> 28x28), batch 128, Adam 1e-3, batches drawn uniformly with
replacement, eval PSNR averaged per image with the output clipped. Training runs through the
product's own code (`input_pipeline.train_batch`, `train.train_step`, `train.evaluate`).

Prints one JSON object per line; the last one is the summary: `images_per_sec` (training,
compile and evaluation excluded), `compile_seconds`, `eval_psnr`, `seconds_to_target` (wall
seconds from start, compile included, to the first eval at or above --target_psnr),
`infer_28_images_per_sec_batch1/256` (14->28), `infer_56_images_per_sec_batch1/256` (28->56,
the peer's --mode infer) and `pipeline_images_per_sec` (batches made and put on the device).
"""
import functools
import json
import time

from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from flax_srae import errors
from flax_srae import input_pipeline
from flax_srae import models
from flax_srae import parallel
from flax_srae import train
from flax_srae.errors import UserError


def _emit(obj) -> None:
  print(json.dumps(obj), flush=True)


def _per_second(fn, count: int, seconds: float) -> float:
  """count / seconds-per-call of fn(), timed for about `seconds` after a warm-up."""
  jax.block_until_ready(fn())
  n, t0 = 0, time.perf_counter()
  while time.perf_counter() - t0 < seconds:
    out = fn()
    n += 1
  jax.block_until_ready(out)
  return round(n * count / (time.perf_counter() - t0), 1)


def inference_speeds(model, params, seconds: float) -> dict:
  """Forward-pass images/s of `model` at batch 1 and 256 for 14x14 and 28x28 inputs."""
  apply = jax.jit(lambda p, x: model.apply({'params': p}, x))
  result = {}
  for size, out in ((14, 28), (28, 56)):
    for batch in (1, 256):
      x = jax.random.uniform(jax.random.key(0), (batch, size, size, 1))
      result[f'infer_{out}_images_per_sec_batch{batch}'] = _per_second(
          functools.partial(apply, params, x), batch, seconds)
  return result


def run(data_dir: str, steps: int, model_name: str, target_psnr: float, eval_every: int,
        seconds: float) -> dict:
  t_start = time.perf_counter()
  from configs import sr28  # pylint: disable=g-import-not-at-top
  config = sr28.get_config()
  config.update(dict(dataset='idx', data_dir=data_dir, train_split='test[:8000]',
                     eval_split='test[8000:]', model=model_name or config.model,
                     num_train_steps=steps))
  model_name = config.model
  train.validate_config(config)
  data = input_pipeline.load(config)
  model = models.create_model(config)
  state = jax.jit(functools.partial(train.create_train_state, config, model,
                                    jax.random.key(config.seed)))()
  mesh = parallel.create_mesh(jax.devices()[:1])  # the peer's protocol: one device
  n_params = sum(p.size for p in jax.tree.leaves(state.params))
  _emit({'framework': 'jax', 'jax': jax.__version__, 'devices': str(jax.devices()),
         'model': model_name, 'params': int(n_params)})

  def batch(step):
    return input_pipeline.train_batch(data.train, config.seed, step, config.batch_size,
                                      config.hr_size)

  first_bad = jnp.array(-1, jnp.int32)
  t0 = time.perf_counter()
  state, loss, first_bad = train.train_step(state, batch(0), first_bad, 'area', 2)
  loss.block_until_ready()
  compile_seconds = time.perf_counter() - t0
  train_time, done, psnr, to_target = 0.0, 0, None, None
  t0 = time.perf_counter()
  for step in range(1, steps + 1):
    state, loss, first_bad = train.train_step(state, batch(step), first_bad, 'area', 2)
    done = step
    if (eval_every and step % eval_every == 0) or step == steps:
      loss = float(loss)
      train_time += time.perf_counter() - t0
      psnr = train.evaluate(state, data.eval, config, mesh)['psnr']
      wall = time.perf_counter() - t_start
      _emit({'step': step, 'loss': loss, 'eval_psnr': round(psnr, 3),
             'train_seconds': round(train_time, 3), 'wall_seconds': round(wall, 3)})
      if target_psnr and psnr >= target_psnr:
        to_target = round(wall, 3)
        break
      t0 = time.perf_counter()
  if int(first_bad) >= 0:
    raise UserError(f'loss not finite at step {int(first_bad)}')

  summary = {'summary': True, 'model': model_name, 'steps': done,
             'images_per_sec': round(done * config.batch_size / train_time, 1),
             'compile_seconds': round(compile_seconds, 3), 'eval_psnr': round(psnr, 3),
             'target_psnr': target_psnr or None, 'seconds_to_target': to_target,
             'train_step_compilations': train.train_step._cache_size()}  # pylint: disable=protected-access
  summary.update(inference_speeds(model, state.params, seconds))
  summary['pipeline_images_per_sec'] = _per_second(
      lambda: jax.device_put(batch(np.random.randint(1 << 30))), config.batch_size, seconds)
  summary['wall_seconds'] = round(time.perf_counter() - t_start, 3)
  _emit(summary)
  return summary


def _main():
  f = flags.FLAGS
  run(f.data_dir, f.steps, f.model, f.target_psnr, f.eval_every, f.seconds)


def _define_flags():
  """Flags exist only when this module is the program, so library imports never clash."""
  flags.DEFINE_string('data_dir', None, 'Folder with t10k-images-idx3-ubyte[.gz].')
  flags.DEFINE_integer('steps', 500, 'Training steps (the peer\'s default).')
  flags.DEFINE_string('model', None, 'Model (default: the sr28 config\'s).')
  flags.DEFINE_float('target_psnr', 0.0, 'Stop at the first eval at or above this (0: never).')
  flags.DEFINE_integer('eval_every', 50, 'Evaluate every N steps, as the peer (0: at the end).')
  flags.DEFINE_float('seconds', 5.0, 'Seconds timed per inference / pipeline measurement.')
  flags.mark_flags_as_required(['data_dir'])


if __name__ == '__main__':
  _define_flags()
  errors.run_command(_main)
