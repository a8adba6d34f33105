"""Evaluates a trained model against classic upscalers on a dataset split.

  python -m flax_srae.evaluate --workdir=DIR [--dataset=... --data_dir=... --split=...]
                               [--shave=N] [--y_channel] [--output_dir=...]
  python -m flax_srae.evaluate --workdir=pretrained:photo --data_dir=../shared/data/sun80

By default it uses the dataset, eval split and protocol the model was trained with (fixed
patches, or whole images for the literature protocol), so its model PSNR reproduces
results.json. Prints a table of PSNR and SSIM for the model and for nearest, bilinear, bicubic
and Lanczos-3 upscaling, and writes the same to DIR/eval_<dataset>_<split>.json with a sample
grid DIR/eval_<dataset>_<split>.png (low-res | bicubic | model | ground truth).
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


def _patch_outputs(upscaler, config, split: str, shave: int, y_channel: bool):
  """Per-method metrics and sample columns on fixed patches degraded on the device."""
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
  methods = {}
  for name, images in outputs.items():
    psnr, ssim = _measure(images, hr, shave, y_channel)
    methods[name] = {'psnr': float(psnr.mean()), 'ssim': float(ssim.mean())}
  channels = ('Y (BT.601) of 8-bit-rounded images' if y_channel
              else 'grayscale' if config.channels == 1 else 'RGB')
  kind = ('images' if all(i.shape[:2] == (config.hr_size,) * 2 for i in images)
          else 'fixed patches')
  protocol = (f'{len(hr)} {kind} of {config.hr_size}x{config.hr_size}, {channels}, shave '
              f'{shave} px')
  n = config.num_samples
  return methods, protocol, len(hr), [x[:n], outputs['bicubic'][:n], outputs['model'][:n],
                                      hr[:n]]


def _whole_image_outputs(upscaler, config, split: str, shave: int):
  """Per-method metrics and sample columns on whole images, the literature's protocol."""
  if shave < 0:
    raise UserError(f'--shave must be >= 0, got {shave}')
  pairs = input_pipeline.literature_pairs(config, split, shave=shave)
  methods = {'model': upscaler.apply}
  for name, method in BASELINES.items():
    methods[name] = lambda x, method=method: train.baseline(x, 2, method)
  result = train.evaluate_images(methods, pairs, shave)
  protocol = (f'{len(pairs)} whole images, PIL bicubic downscale, studio-range Y of '
              f'8-bit-rounded output, shave {shave} px')
  lr, hr = input_pipeline.center_crops(pairs, input_pipeline.SAMPLE_CROP,
                                       config.num_samples)
  bicubic = np.clip(np.asarray(train.baseline(lr, 2)), 0.0, 1.0)
  return result, protocol, len(pairs), [lr, bicubic, upscaler.apply(lr), hr]


def evaluate(workdir: str, dataset=None, data_dir=None, split=None, shave=None,
             y_channel: bool = False, step=None, output_dir=None) -> dict:
  """Evaluates; returns (and writes) {'protocol': ..., 'num_images': n, 'methods': {...}}."""
  upscaler = inference.load(workdir, step)
  config = upscaler.config
  with config.unlocked():
    config.dataset = dataset or config.dataset
    config.data_dir = config.data_dir if data_dir is None else data_dir
  split = split or config.eval_split
  whole = config.get('protocol') == 'literature'
  if shave is None:
    shave = config.shave if whole else 0
  if whole:  # already luma (or RGB measured on luma): --y_channel changes nothing
    methods, protocol, n, columns = _whole_image_outputs(upscaler, config, split, shave)
  else:
    if y_channel and config.channels != 3:
      raise UserError('--y_channel measures the luma of colour images; this model is grayscale:'
                      ' drop --y_channel')
    methods, protocol, n, columns = _patch_outputs(upscaler, config, split, shave, y_channel)
  protocol += ', PSNR per image then averaged, SSIM 11x11 Gaussian (sigma 1.5)'
  result = {'workdir': os.path.abspath(inference.resolve(workdir)), 'step': upscaler.step,
            'dataset': config.dataset, 'split': split, 'degradation': config.degradation,
            'protocol': protocol, 'num_images': n, 'methods': methods}

  print(f'{config.model} step {upscaler.step} on {config.dataset} {split}: {protocol}')
  print(f'{"method":10s} {"PSNR dB":>8s} {"SSIM":>7s}')
  for name, m in methods.items():
    print(f'{name:10s} {m["psnr"]:8.2f} {m["ssim"]:7.4f}')

  pretrained = workdir.startswith(inference.PRETRAINED_PREFIX)
  if output_dir is None:  # a shipped model's folder is not ours to write in
    output_dir = '.' if pretrained else workdir
  os.makedirs(output_dir, exist_ok=True)
  name = workdir[len(inference.PRETRAINED_PREFIX):] + '_' if pretrained else ''
  stem = os.path.join(output_dir, f'eval_{name}{_file_part(config.dataset)}_{_file_part(split)}')
  train.write_json(stem + '.json', result)
  samples.write_grid(stem + '.png', [np.asarray(c) for c in columns])
  print(f'wrote {stem}.json and {stem}.png')
  return result


def _main():
  f = flags.FLAGS
  evaluate(f.workdir, f.dataset, f.data_dir, f.split, f.shave, f.y_channel, f.step,
           f.output_dir)


def _define_flags():
  """Flags exist only when this module is the program, so library imports never clash."""
  flags.DEFINE_string('workdir', None, "Training workdir (or its checkpoints folder), or "
                      "'pretrained:NAME' for a model shipped with the package.")
  flags.DEFINE_string('dataset', None, 'Dataset (default: the one trained on).')
  flags.DEFINE_string('data_dir', None, 'Its folder (default: the one trained on).')
  flags.DEFINE_string('split', None, 'Split to evaluate (default: the training eval split).')
  flags.DEFINE_integer('shave', None, 'Pixels of border excluded from the metrics (SR papers: '
                       'scale; default: the config\'s for literature-protocol models, else 0).')
  flags.DEFINE_bool('y_channel', False, 'Colour data: measure on BT.601 luma of 8-bit-rounded '
                    'images, as SR papers do.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_string('output_dir', None, 'Where to write eval_*.json/png (default: the workdir; '
                      'for pretrained models the current folder).')
  flags.mark_flags_as_required(['workdir'])


if __name__ == '__main__':
  _define_flags()
  errors.run_command(_main)
