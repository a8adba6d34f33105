"""Evaluates a trained model against classic upscalers on a dataset split.

  python -m flax_srae.evaluate --workdir=DIR [--dataset=... --data_dir=... --split=...]
                               [--shave=N] [--y_channel]

By default it uses the dataset and eval split the model was trained with, so its model PSNR
reproduces results.json. Prints a table of PSNR and SSIM for the model and for nearest,
bilinear, bicubic and Lanczos-3 upscaling, and writes the same to DIR/eval_<dataset>_<split>.json
with a sample grid DIR/eval_<dataset>_<split>.png (low-res | bicubic | model | ground truth).
"""
import os
import re

from absl import flags
import jax.numpy as jnp
import numpy as np

from flax_srae import errors
from flax_srae import inference
from flax_srae import input_pipeline
from flax_srae import metrics
from flax_srae import samples
from flax_srae import train
from flax_srae.errors import UserError


# jax.image.resize methods of the classic baselines, by their usual names.
BASELINES = {'nearest': 'nearest', 'bilinear': 'linear', 'bicubic': 'cubic', 'lanczos': 'lanczos3'}


def _measure(images, hr, shave: int, y_channel: bool):
  """Per-image PSNR and SSIM under the chosen protocol."""
  if y_channel:
    weights = jnp.array([65.481, 128.553, 24.966]) / 255.0
    images, hr = (16.0 / 255.0 + jnp.round(a * 255.0) / 255.0 @ weights[:, None]
                  for a in (images, hr))
  if shave:
    images, hr = images[:, shave:-shave, shave:-shave], hr[:, shave:-shave, shave:-shave]
  return np.asarray(metrics.psnr(images, hr)), np.asarray(metrics.ssim(images, hr))


def _file_part(text: str) -> str:
  """'test[8000:]' -> 'test_8000-end', 'train[:90%]' -> 'train_start-90pct', 'a/b' -> 'a_b':
  distinct splits get distinct file names."""
  m = re.fullmatch(r'(.*)\[(.*):(.*)\]', text)
  if m:
    text = f'{m[1]}_{m[2] or "start"}-{m[3] or "end"}'
  return re.sub(r'[^\w.-]+', '_', text.replace('%', 'pct'))


def evaluate(workdir: str, dataset=None, data_dir=None, split=None, shave: int = 0,
             y_channel: bool = False, step=None) -> dict:
  """Evaluates; returns (and writes) {'protocol': ..., 'num_images': n, 'methods': {...}}."""
  upscaler = inference.load(workdir, step)
  config = upscaler.config
  with config.unlocked():
    config.dataset = dataset or config.dataset
    config.data_dir = config.data_dir if data_dir is None else data_dir
  split = split or config.eval_split
  if y_channel and config.channels != 3:
    raise UserError('--y_channel measures the luma of colour images; this model is grayscale: '
                    'drop --y_channel')
  if shave < 0 or config.hr_size - 2 * shave < metrics.SSIM_WINDOW:
    raise UserError(f'--shave={shave} leaves less than the {metrics.SSIM_WINDOW}-pixel SSIM '
                    f'window of {config.hr_size}-pixel images')
  images = input_pipeline.load_split(config, split)
  input_pipeline.check_images(images, split, config)
  hr = input_pipeline.eval_patches(images, config.hr_size, config.num_eval_patches)
  scale = upscaler.scale
  x = np.asarray(train.model_input(hr, config.degradation, scale))
  outputs = {'model': upscaler.upscale(x)}
  for name, method in BASELINES.items():
    outputs[name] = np.clip(np.asarray(train.baseline(x, scale, method)), 0.0, 1.0)

  channels = ('Y (BT.601) of 8-bit-rounded images' if y_channel
              else 'grayscale' if config.channels == 1 else 'RGB')
  protocol = (f'{channels}, shave {shave} px, PSNR per image then averaged, '
              f'SSIM 11x11 Gaussian (sigma 1.5)')
  result = {'workdir': os.path.abspath(workdir), 'step': upscaler.step,
            'dataset': config.dataset, 'split': split, 'degradation': config.degradation,
            'protocol': protocol, 'num_images': len(hr), 'methods': {}}
  for name, images in outputs.items():
    psnr, ssim = _measure(images, hr, shave, y_channel)
    result['methods'][name] = {'psnr': float(psnr.mean()), 'ssim': float(ssim.mean())}

  print(f'{config.model} step {upscaler.step} on {config.dataset} {split}: {len(hr)} images '
        f'of {config.hr_size}x{config.hr_size}; {protocol}')
  print(f'{"method":10s} {"PSNR dB":>8s} {"SSIM":>7s}')
  for name, m in result['methods'].items():
    print(f'{name:10s} {m["psnr"]:8.2f} {m["ssim"]:7.4f}')

  stem = os.path.join(workdir, f'eval_{_file_part(config.dataset)}_{_file_part(split)}')
  train.write_json(stem + '.json', result)
  n = config.num_samples
  samples.write_grid(stem + '.png', [np.asarray(x[:n]), outputs['bicubic'][:n],
                                     outputs['model'][:n], hr[:n]])
  print(f'wrote {stem}.json and {stem}.png')
  return result


def _main():
  f = flags.FLAGS
  evaluate(f.workdir, f.dataset, f.data_dir, f.split, f.shave, f.y_channel, f.step)


def _define_flags():
  """Flags exist only when this module is the program, so library imports never clash."""
  flags.DEFINE_string('workdir', None, 'Training workdir (or its checkpoints folder).')
  flags.DEFINE_string('dataset', None, 'Dataset (default: the one trained on).')
  flags.DEFINE_string('data_dir', None, 'Its folder (default: the one trained on).')
  flags.DEFINE_string('split', None, 'Split to evaluate (default: the training eval split).')
  flags.DEFINE_integer('shave', 0, 'Pixels of border excluded from the metrics (SR papers: scale).')
  flags.DEFINE_bool('y_channel', False, 'Colour data: measure on BT.601 luma of 8-bit-rounded '
                    'images, as SR papers do.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.mark_flags_as_required(['workdir'])


if __name__ == '__main__':
  _define_flags()
  errors.run_command(_main)
