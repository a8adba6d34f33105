"""Evaluates a trained model against classic upscalers (an autoencoder against PCA) on a split.

  python -m flax_srae.evaluate --workdir=DIR [--dataset=... --data_dir=... --split=...]
                               [--shave=N] [--y_channel] [--ensemble] [--output_dir=...]
  python -m flax_srae.evaluate --workdir=pretrained:photo --data_dir=../shared/data/sun80

By default it uses the dataset, eval split and protocol the model was trained with (fixed
patches, or whole images for the literature protocol), so its model PSNR reproduces
results.json. Prints a table of PSNR and SSIM for the model and for nearest, bilinear, bicubic
and Lanczos-3 upscaling, and writes the same to DIR/eval_<dataset>_<split>.json with a sample
grid DIR/eval_<dataset>_<split>.png (low-res | bicubic | model | ground truth). --ensemble
measures the model's self-ensemble instead, into eval_<dataset>_<split>_ensemble.*.

An autoencoder is measured against PCA with as many components, fitted on the split it was
trained on, and the area downscale of about as many values upscaled bicubically (and, for a
denoiser, the noisy input): PSNR per image, the PSNR of the mean MSE and the squared error per
image as the autoencoder literature reports it, and SSIM; its grid shows original | PCA |
autoencoder.
"""
import os
import re

from absl import flags
import jax

from flax_srae import cli
from flax_srae.training import evaluation
from flax_srae.platform import files
from flax_srae import inference
from flax_srae.data import input_pipeline
from flax_srae.training import metrics
from flax_srae.platform import parallel
from flax_srae.training import samples
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
  model = inference.load(workdir, step)
  config = model.config
  with config.unlocked():
    config.dataset = dataset or config.dataset
    config.data_dir = config.data_dir if data_dir is None else data_dir
  split = split or config.eval_split
  mesh = parallel.create_mesh(jax.local_devices()[:1])
  if isinstance(model, inference.Coder):
    result, grid = _evaluate_coder(model, split, mesh, shave, y_channel, ensemble, rgb)
  else:
    result, grid = _evaluate_upscaler(model, split, mesh, shave, y_channel, ensemble, rgb)
  methods, protocol = result['methods'], result['protocol']
  pretrained = workdir.startswith(inference.PRETRAINED_PREFIX)
  # A shipped model is named as loaded: its install path says nothing on another machine.
  result = {'workdir': workdir if pretrained else os.path.abspath(inference.resolve(workdir)),
            'step': model.step, 'dataset': config.dataset, 'split': split,
            'degradation': config.degradation, **result}

  print(f'{config.model} step {model.step} on {config.dataset} {split}: {protocol}')
  keys = [k for k in _COLUMNS if k in methods['model']]
  print(f'{"method":13s}' + ''.join(f'{_COLUMNS[k][0]:>{_COLUMNS[k][1]}s}' for k in keys))
  for name, m in methods.items():
    print(f'{name:13s}' + ''.join(f'{m[k]:{_COLUMNS[k][1]}.{_COLUMNS[k][2]}f}' for k in keys))

  if output_dir is None:  # a shipped model's folder is not ours to write in
    output_dir = '.' if pretrained else workdir
  os.makedirs(output_dir, exist_ok=True)
  name = workdir[len(inference.PRETRAINED_PREFIX):] + '_' if pretrained else ''
  stem = os.path.join(output_dir, f'eval_{name}{_file_part(config.dataset)}_{_file_part(split)}'
                                  + ('_ensemble' if ensemble else '') + ('_rgb' if rgb else ''))
  files.write_json(stem + '.json', result)
  samples.write_grid(stem + '.png', grid[0], labels=grid[1])
  print(f'wrote {stem}.json and {stem}.png')
  return result


# The printed table's columns: (heading, width, decimals).
_COLUMNS = {'psnr': ('PSNR dB', 8, 2), 'ssim': ('SSIM', 7, 4),
            'psnr_of_mean_mse': ('PSNR(mean MSE)', 15, 2),
            'squared_error_per_image': ('sq. err/image', 14, 2)}


def _evaluate_upscaler(model: inference.Upscaler, split: str, mesh, shave, y_channel: bool,
                       ensemble: bool, rgb: bool):
  """({'protocol', 'num_images', 'methods'}, the sample grid's (columns, labels)) of a x2
  model against the classic upscalers."""
  config = model.config
  whole = input_pipeline.protocol_of(config).whole_images
  if whole and shave is not None:
    with config.unlocked():
      config.shave = shave
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
  methods = evaluation.evaluate(model.model, model.params, eval_data, config, mesh,
                                methods=tuple(evaluation.BASELINES), shave=shave,
                                y_channel=y_channel, ensemble=ensemble, rgb=rgb)
  if whole:
    on = 'RGB' if rgb else 'studio-range Y'
  else:
    on = ('Y (BT.601) of 8-bit-rounded images' if y_channel
          else 'grayscale' if config.channels == 1 else 'RGB')
  protocol = input_pipeline.protocol_of(config).describe(config, len(eval_data), on, shave)
  protocol += ', PSNR per image then averaged, SSIM 11x11 Gaussian (sigma 1.5)'
  if ensemble:
    protocol += ", the model's self-ensemble (mean over 8 rotations and flips)"
  grid = evaluation.sample_columns(model.model, model.params, eval_data, config, mesh, ensemble)
  return {'protocol': protocol, 'num_images': len(eval_data), 'methods': methods}, grid


def _evaluate_coder(model: inference.Coder, split: str, mesh, shave, y_channel: bool,
                    ensemble: bool, rgb: bool):
  """({'protocol', 'num_images', 'coding', 'methods'}, the sample grid's (columns, labels)) of
  an autoencoder against PCA fitted on its training split and the area code of its size."""
  given = [name for name, value in (('--shave', shave), ('--y_channel', y_channel),
                                    ('--ensemble', ensemble), ('--rgb', rgb)) if value]
  if given:
    raise UserError(f'{" and ".join(given)} appl{"ies" if len(given) == 1 else "y"} to x2 '
                    f'upscalers; this model is an autoencoder: drop '
                    f'{"it" if len(given) == 1 else "them"}')
  config = model.config
  eval_data = input_pipeline.load_eval(config, split)
  pca_fit = evaluation.fit_pca(input_pipeline.load_split(config, config.train_split), config)
  methods = evaluation.evaluate(model.model, model.params, eval_data, config, mesh,
                                pca_fit=pca_fit)
  coding = evaluation.coding_summary(config)
  side = coding['area_code']['side']
  noise = f', inputs with Gaussian noise {config.noise_std:g}' if config.noise_std else ''
  protocol = (f'{len(eval_data)} images of {config.hr_size}x{config.hr_size}, codes of '
              f'{config.latent_dim} values ({coding["compression_ratio"]:.1f}:1){noise}; PCA '
              f'with {config.latent_dim} components fitted on {config.train_split}; area code '
              f'{side}x{side} upscaled bicubically; PSNR per image then averaged, PSNR of the '
              f'mean MSE, squared error summed per image then averaged, SSIM 11x11 Gaussian '
              f'(sigma 1.5)')
  grid = evaluation.sample_columns(model.model, model.params, eval_data, config, mesh,
                                   pca_fit=pca_fit)
  return {'protocol': protocol, 'num_images': len(eval_data), 'coding': coding,
          'methods': methods}, grid


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
