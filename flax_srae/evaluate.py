"""Evaluates a trained model against classic upscalers on a dataset split.

  python -m flax_srae.evaluate --workdir=DIR [--dataset=... --data_dir=... --split=...]
                               [--shave=N] [--y_channel] [--ensemble] [--output_dir=...]
  python -m flax_srae.evaluate --workdir=pretrained:photo --data_dir=../shared/data/sun80

By default it uses the dataset, eval split and protocol the model was trained with (fixed
patches, or whole images for the literature protocol), so its model PSNR reproduces
results.json. Prints a table of PSNR and SSIM for the model and for nearest, bilinear, bicubic
and Lanczos-3 upscaling, and writes the same to DIR/eval_<dataset>_<split>.json with a sample
grid DIR/eval_<dataset>_<split>.png (low-res | bicubic | model | ground truth). --ensemble
measures the model's self-ensemble instead, into eval_<dataset>_<split>_ensemble.*.
"""
import os
import re

from absl import flags
import jax

from flax_srae import cli
from flax_srae import evaluation
from flax_srae import files
from flax_srae import inference
from flax_srae import input_pipeline
from flax_srae import metrics
from flax_srae import parallel
from flax_srae import samples
from flax_srae.errors import UserError


def _file_part(text: str) -> str:
  """'test[8000:]' -> 'test_8000-end', 'train[:90%]' -> 'train_start-90pct', 'a/b' -> 'a_b':
  distinct splits get distinct file names."""
  m = re.fullmatch(r'(.*)\[(.*):(.*)\]', text)
  if m:
    text = f'{m[1]}_{m[2] or "start"}-{m[3] or "end"}'
  return re.sub(r'[^\w.-]+', '_', text.replace('%', 'pct'))


def evaluate(workdir: str, dataset=None, data_dir=None, split=None, shave=None,
             y_channel: bool = False, step=None, output_dir=None, ensemble: bool = False,
             rgb: bool = False) -> dict:
  """Evaluates; returns (and writes) {'protocol': ..., 'num_images': n, 'methods': {...}}."""
  upscaler = inference.load(workdir, step)
  config = upscaler.config
  with config.unlocked():
    config.dataset = dataset or config.dataset
    config.data_dir = config.data_dir if data_dir is None else data_dir
    whole = config.protocol == 'literature'
    if whole and shave is not None:
      config.shave = shave
  split = split or config.eval_split
  if rgb and not (whole and config.channels == 3):
    raise UserError('--rgb measures a colour model of the literature protocol on RGB rather '
                    'than luma; this model is ' + ('grayscale' if config.channels == 1 else
                    'measured on RGB patches already') + ': drop --rgb')
  if whole:  # already luma (or RGB measured on luma): --y_channel changes nothing
    shave = config.shave
  else:
    shave = shave or 0
    if y_channel and config.channels != 3:
      raise UserError('--y_channel measures the luma of colour images; this model is '
                      'grayscale: drop --y_channel')
  if shave < 0:
    raise UserError(f'--shave must be >= 0, got {shave}')
  if not whole and config.hr_size - 2 * shave < metrics.SSIM_WINDOW:
    raise UserError(f'--shave={shave} leaves less than the {metrics.SSIM_WINDOW}-pixel SSIM '
                    f'window of {config.hr_size}-pixel images: lower it')
  eval_data = input_pipeline.load_eval(config, split)
  mesh = parallel.create_mesh(jax.local_devices()[:1])
  methods = evaluation.evaluate(upscaler.model, upscaler.params, eval_data, config, mesh,
                                methods=tuple(evaluation.BASELINES), shave=shave,
                                y_channel=y_channel, ensemble=ensemble, rgb=rgb)
  if whole:
    on = 'RGB' if rgb else 'studio-range Y'
    protocol = (f'{len(eval_data)} whole images, PIL bicubic downscale, {on} of 8-bit-rounded '
                f'output, shave {shave} px')
  else:
    channels = ('Y (BT.601) of 8-bit-rounded images' if y_channel
                else 'grayscale' if config.channels == 1 else 'RGB')
    protocol = (f'{len(eval_data)} images of {config.hr_size}x{config.hr_size}, {channels}, '
                f'shave {shave} px')
  protocol += ', PSNR per image then averaged, SSIM 11x11 Gaussian (sigma 1.5)'
  if ensemble:
    protocol += ", the model's self-ensemble (mean over 8 rotations and flips)"
  pretrained = workdir.startswith(inference.PRETRAINED_PREFIX)
  # A shipped model is named as loaded: its install path says nothing on another machine.
  result = {'workdir': workdir if pretrained else os.path.abspath(inference.resolve(workdir)),
            'step': upscaler.step,
            'dataset': config.dataset, 'split': split, 'degradation': config.degradation,
            'protocol': protocol, 'num_images': len(eval_data), 'methods': methods}

  print(f'{config.model} step {upscaler.step} on {config.dataset} {split}: {protocol}')
  print(f'{"method":10s} {"PSNR dB":>8s} {"SSIM":>7s}')
  for name, m in methods.items():
    print(f'{name:10s} {m["psnr"]:8.2f} {m["ssim"]:7.4f}')

  if output_dir is None:  # a shipped model's folder is not ours to write in
    output_dir = '.' if pretrained else workdir
  os.makedirs(output_dir, exist_ok=True)
  name = workdir[len(inference.PRETRAINED_PREFIX):] + '_' if pretrained else ''
  stem = os.path.join(output_dir, f'eval_{name}{_file_part(config.dataset)}_{_file_part(split)}'
                                  + ('_ensemble' if ensemble else '') + ('_rgb' if rgb else ''))
  files.write_json(stem + '.json', result)
  columns = evaluation.sample_columns(upscaler.model, upscaler.params, eval_data, config, mesh,
                                      ensemble)
  samples.write_grid(stem + '.png', columns)
  print(f'wrote {stem}.json and {stem}.png')
  return result


def _main():
  f = flags.FLAGS
  evaluate(f.workdir, f.dataset, f.data_dir, f.split, f.shave, f.y_channel, f.step,
           f.output_dir, f.ensemble, f.rgb)


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
  flags.DEFINE_bool('rgb', False, 'Colour models of the literature protocol (measured on '
                    'luma by default): measure on the RGB channels.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_bool('ensemble', False, "Measure the model's self-ensemble: the mean of its "
                    'outputs over the 8 rotations and flips of each input (8x the time).')
  flags.DEFINE_string('output_dir', None, 'Where to write eval_*.json/png (default: the workdir; '
                      'for pretrained models the current folder).')
  flags.mark_flags_as_required(['workdir'])


if __name__ == '__main__':
  _define_flags()
  cli.run(_main, quiet=True)
