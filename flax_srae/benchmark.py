"""Speed benchmarks on the PyTorch peers' protocols (../shared/peers/).

  python -m flax_srae.benchmark --data_dir=../shared/data/mnist [--steps=N] [--model=NAME]
                                [--target_psnr=DB] [--eval_every=50]
  python -m flax_srae.benchmark --task=photo --data_dir=../shared/data/sun80 [--steps=N]
                                [--target_psnr=DB] [--eval_every=250]
  ... [--learning_rate=LR] [--loss=l1|mse] [--batch_size=N] [--lr_schedule=constant|cosine]
      [--warmup_steps=N] [--validation]

--task=mnist (torch_seed_sr.py): MNIST t10k IDX files, images [0, 8000) train and [8000, 10000)
eval, 2x2 area degradation (14x14 -> 28x28), batch 128, Adam 1e-3, MSE, batches drawn uniformly
with replacement, eval PSNR averaged per image with the output clipped. The summary has
`infer_28_images_per_sec_batch1/256` (14->28), `infer_56_images_per_sec_batch1/256` (28->56,
the peer's --mode infer) and `pipeline_images_per_sec` (batches made and put on the device).

--task=photo (torch_photo_sr.py): the 'edsr' model (width 32, 6 blocks: the peer's network) on
sun80 files [0, 70) train, [70, 80) eval, luma pairs by PIL bicubic downscale of whole images,
L1, Adam 1e-3, batch 32 of 24x24 -> 48x48 crops with random rotations and flips; eval on whole
images, output rounded to 8 bits, 2-pixel shave. The summary has `infer_512_megapixels_per_sec`
(one 256x256 -> 512x512 image) and `infer_128_batch16_megapixels_per_sec` (16 of 64 -> 128).

The recipe flags (`RECIPE_FIELDS`) train the same network another way, for time-to-quality
runs; the first line reports the recipe and the splits used. Throughput comparisons keep the
peer's recipe. `--validation` evaluates on held-out training data instead of the eval split, so
that recipes are chosen without looking at the figures they are judged by.

Training runs through the product's own code (`input_pipeline`, `train.initializer` and
`train.stepper`, the state and the step `train.py` trains with, `evaluation`), inference through `inference.forward`, the forward pass of
`flax_srae.load(...).upscale`, with the CPU speed-ups of `cpu_speedups` that `--speedups` names
(default: all; `--speedups=none`, or all but some: `--speedups=-ynn_dots,-conv_forms`), so
that each can be measured with and without (`inference_chunks` applies to the inference
timings; evaluations during training always chunk). Prints one JSON object per line; the last
one is the summary, with `images_per_sec` (training, compile and evaluation excluded),
`compile_seconds`, `eval_psnr` and `seconds_to_target` (wall seconds from start, compile
included, to the first eval at or above --target_psnr).
"""
import functools
import json
import os
import time

from absl import flags
import jax
import numpy as np

from flax_srae import cli
from flax_srae.platform import cpu_speedups
from flax_srae.training import evaluation
from flax_srae import inference
from flax_srae.data import input_pipeline
from flax_srae import models
from flax_srae.platform import parallel
from flax_srae.training import train
from flax_srae.errors import UserError

TASKS = ('mnist', 'photo')
# Config fields a run may change from the peer's recipe, each a flag of the same name.
RECIPE_FIELDS = ('learning_rate', 'loss', 'batch_size', 'lr_schedule', 'warmup_steps')


def _emit(obj) -> None:
  print(json.dumps(obj), flush=True)


def _per_second(fn, count: float, seconds: float) -> float:
  """count / seconds-per-call of fn(), timed for about `seconds` after a warm-up."""
  jax.block_until_ready(fn())
  n, t0 = 0, time.perf_counter()
  while time.perf_counter() - t0 < seconds:
    out = fn()
    n += 1
  jax.block_until_ready(out)
  return round(n * count / (time.perf_counter() - t0), 3)


def _forward_rate(model, params, shape, count: float, seconds: float, chunk_pixels) -> float:
  """`count` (images or megapixels) per second of `inference.forward` on a random `shape`
  input."""
  x = jax.random.uniform(jax.random.key(0), shape)
  forward = functools.partial(inference.forward, model, params, x, chunk_pixels=chunk_pixels)
  return _per_second(forward, count, seconds)


def parse_speedups(spec: str) -> tuple:
  """'all', 'none', 'a,b' (just those) or '-a,-b' (all but those) -> the names of
  `cpu_speedups.SPEEDUPS` to use."""
  names = [n for n in spec.split(',') if n] if spec not in ('all', 'none') else []
  unknown = sorted({n.lstrip('-') for n in names} - set(cpu_speedups.SPEEDUPS))
  if unknown or (names and len({n.startswith('-') for n in names}) > 1):
    raise UserError(f'--speedups={spec}: use all, none, a comma list of '
                    f'{", ".join(cpu_speedups.SPEEDUPS)}, or all but some as -name,-name')
  if spec == 'all' or (names and names[0].startswith('-')):
    return tuple(n for n in cpu_speedups.SPEEDUPS if f'-{n}' not in names)
  return tuple(names)


def _config(task: str, data_dir: str, steps: int, model_name, recipe=None,
            validation: bool = False):
  from configs import default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.update(dict(data_dir=data_dir, num_train_steps=steps))
  if task == 'mnist':
    config.update(dict(dataset='idx', train_split='test[:8000]', eval_split='test[8000:]',
                       model=model_name or config.model))
    if validation:
      config.update(dict(train_split='test[:7000]', eval_split='test[7000:8000]'))
  else:
    config.update(dict(dataset='folder', train_split='train[:70]', eval_split='train[70:80]',
                       model=model_name or 'edsr', width=32, num_blocks=6,
                       degradation='bicubic', protocol='literature', shave=2, loss='l1',
                       augment=True, batch_size=32, hr_size=48))
    if validation:
      config.update(dict(train_split='train[:60]', eval_split='train[60:70]'))
  # Departures from the peer's recipe (RECIPE_FIELDS), reported in the first line: same
  # network, other training.
  config.update({k: v for k, v in (recipe or {}).items() if v is not None})
  if models.is_coder(config):
    raise UserError('--model=autoencoder: the benchmark runs the PyTorch peers\' x2 '
                    'super-resolution protocols; choose another --model (experiments/'
                    'autoencoder.py measures the autoencoder)')
  train.validate_config(config)
  return config


def run(task: str, data_dir: str, steps: int, model_name, target_psnr: float, eval_every: int,
        seconds: float, recipe=None, validation: bool = False,
        speedups=cpu_speedups.SPEEDUPS, process_settings=()) -> dict:
  """Trains on `task`'s protocol, measures inference, prints and returns the summary.

  `recipe` maps some of RECIPE_FIELDS to the values to use in place of the peer's;
  `validation` holds out the last eighth (MNIST) or seventh (sun80) of the peer's training
  data and evaluates on it in place of the eval split. `speedups`: the names of
  `cpu_speedups.SPEEDUPS` to use in the model and its inference; `process_settings`: those
  that `cpu_speedups.configure` made for this process (reported only).
  """
  t_start = time.perf_counter()
  if task not in TASKS:
    raise UserError(f'unknown --task {task!r}: choose one of {", ".join(TASKS)}')
  config = _config(task, data_dir, steps, model_name, recipe, validation)
  mesh = parallel.create_mesh(jax.devices()[:1])  # the peers' protocols: one device
  data = input_pipeline.load(config)
  model = models.create_model(config, **cpu_speedups.layers(speedups))
  state = train.initializer(config, model, mesh)()
  _emit({'framework': 'jax', 'jax': jax.__version__, 'devices': str(jax.devices()),
         'task': task, 'model': config.model,
         'params': int(sum(p.size for p in jax.tree.leaves(state.params))),
         'train_split': config.train_split, 'eval_split': config.eval_split,
         **{k: config[k] for k in RECIPE_FIELDS}, 'speedups': list(speedups),
         'process_settings': list(process_settings), 'xla_flags': os.environ.get('XLA_FLAGS', '')})
  state, summary = _train(config, data, model, mesh, state, target_psnr, eval_every, t_start)
  summary = {'summary': True, 'task': task, 'model': config.model, **summary}
  chunk_pixels = cpu_speedups.CHUNK_PIXELS if 'inference_chunks' in speedups else None
  summary.update(_inference_rates(task, model, train.eval_params(state), seconds, chunk_pixels))
  summary['pipeline_images_per_sec'] = _per_second(
      lambda: jax.device_put(input_pipeline.batch(data, config, np.random.randint(1 << 30))),
      config.batch_size, seconds)
  summary['wall_seconds'] = round(time.perf_counter() - t_start, 3)
  _emit(summary)
  return summary


def _train(config, data, model, mesh, state, target_psnr: float, eval_every: int,
           t_start: float):
  """(state, the summary's training figures): the peers' warm-up step (compiling), then
  `num_train_steps` timed steps, each evaluation printed, stopping early at `target_psnr`."""
  step_fn = train.stepper(config, data, mesh)
  first_bad = parallel.replicate(mesh, np.int32(-1))
  t0 = time.perf_counter()
  state, loss, first_bad = step_fn(state, 0, first_bad)
  loss.block_until_ready()
  compile_seconds = time.perf_counter() - t0
  steps, train_time, done, psnr, to_target = config.num_train_steps, 0.0, 0, None, None
  t0 = time.perf_counter()
  for step in range(1, steps + 1):
    state, loss, first_bad = step_fn(state, step, first_bad)
    done = step
    if (eval_every and step % eval_every == 0) or step == steps:
      loss = float(loss)
      train_time += time.perf_counter() - t0
      psnr = _eval_psnr(config, data, model, mesh, state)
      wall = time.perf_counter() - t_start
      _emit({'step': step, 'loss': loss, 'eval_psnr': round(psnr, 3),
             'train_seconds': round(train_time, 3), 'wall_seconds': round(wall, 3)})
      if target_psnr and psnr >= target_psnr:
        to_target = round(wall, 3)
        break
      t0 = time.perf_counter()
  if int(first_bad) >= 0:
    raise UserError(f'loss not finite at step {int(first_bad)}')
  return state, {'steps': done, 'images_per_sec': round(done * config.batch_size / train_time, 1),
                 'compile_seconds': round(compile_seconds, 3), 'eval_psnr': round(psnr, 3),
                 'target_psnr': target_psnr or None, 'seconds_to_target': to_target,
                 'train_step_compilations': train.train_step._cache_size()}  # pylint: disable=protected-access


def _eval_psnr(config, data, model, mesh, state) -> float:
  """The model's PSNR only, as the peers measure it: patches, or whole images shaved."""
  params = train.eval_params(state)
  if input_pipeline.protocol_of(config).whole_images:
    r = evaluation.evaluate_whole(model, params, data.eval, mesh, methods=(),
                                  shave=config.shave, with_ssim=False)
  else:
    r = evaluation.evaluate_patches(model, params, data.eval, config, mesh, methods=())
  return r['model']['psnr']


def _inference_rates(task: str, model, params, seconds: float, chunk_pixels) -> dict:
  """The peer's inference figures: images/s (mnist) or megapixels/s (photo) of `forward`."""
  rate = functools.partial(_forward_rate, model, params, seconds=seconds,
                           chunk_pixels=chunk_pixels)
  if task == 'mnist':
    return {f'infer_{2 * size}_images_per_sec_batch{n}': rate((n, size, size, 1), n)
            for size in (14, 28) for n in (1, 256)}
  return {'infer_512_megapixels_per_sec': rate((1, 256, 256, 1), 512 * 512 / 1e6),
          'infer_128_batch16_megapixels_per_sec': rate((16, 64, 64, 1), 16 * 128 * 128 / 1e6)}


def _main():
  f = flags.FLAGS
  eval_every = f.eval_every if f.eval_every is not None else (250 if f.task == 'photo' else 50)
  speedups = parse_speedups(f.speedups)
  configured = cpu_speedups.configure(speedups)  # before JAX starts
  run(f.task, f.data_dir, f.steps, f.model, f.target_psnr, eval_every, f.seconds,
      {k: f[k].value for k in RECIPE_FIELDS}, f.validation, speedups, configured)


def _define_flags():
  """Flags exist only when this module is the program, so library imports never clash."""
  flags.DEFINE_enum('task', 'mnist', TASKS, 'mnist: torch_seed_sr.py\'s protocol; photo: '
                    'torch_photo_sr.py\'s.')
  flags.DEFINE_string('data_dir', None, 'mnist: folder with t10k-images-idx3-ubyte[.gz]; '
                      'photo: the sun80 folder.')
  flags.DEFINE_integer('steps', 500, 'Training steps.')
  flags.DEFINE_string('model', None, 'Model (default: the sr28 config\'s; photo: edsr).')
  flags.DEFINE_float('target_psnr', 0.0, 'Stop at the first eval at or above this (0: never).')
  flags.DEFINE_integer('eval_every', None, 'Evaluate every N steps (0: at the end; default as '
                       'the peers: 50 for mnist, 250 for photo).')
  flags.DEFINE_float('learning_rate', None, 'Adam learning rate (default: the peer\'s, 1e-3).')
  flags.DEFINE_enum('loss', None, tuple(train.LOSSES), 'Loss (default: the peer\'s).')
  flags.DEFINE_integer('batch_size', None, 'Batch size (default: the peer\'s, 128 / 32).')
  flags.DEFINE_enum('lr_schedule', None, tuple(train.LR_SCHEDULES),
                    'Learning-rate schedule (default: the peer\'s, constant).')
  flags.DEFINE_integer('warmup_steps', None, 'Linear warmup steps of the cosine schedule.')
  flags.DEFINE_bool('validation', False, 'Train on test[:7000] (mnist) or files [0, 60) '
                    '(photo) and evaluate on test[7000:8000] or files [60, 70), never on the '
                    'eval split: for choosing a recipe.')
  flags.DEFINE_string('speedups', 'all', f'CPU speed-ups to use: all, none, some of '
                      f'{",".join(cpu_speedups.SPEEDUPS)}, or all but some: -name,-name.')
  flags.DEFINE_float('seconds', 5.0, 'Seconds timed per inference / pipeline measurement.')
  flags.mark_flags_as_required(['data_dir'])


if __name__ == '__main__':
  _define_flags()
  cli.run(_main, speedups=False)
